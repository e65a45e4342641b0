#!/usr/bin/env python3
"""Crash test: `kill -9` of a release `serve` under load loses no acknowledged turn.

    scripts/crash-test.py [--bin target/release/shopkeep] [--rounds 3] [--clients 32] [--seconds 4]

Each round starts the server on one data dir (kept across rounds), sends answers from CLIENTS
threads (new conversations and follow-ups in them), records every exchange the server
acknowledged (HTTP 200: its conversation id and reply), kills the server with SIGKILL mid-load,
starts it again on the same files and checks, in the database it reopened:
  - every acknowledged reply is there as an assistant turn of its conversation, after its
    customer turn;
  - `PRAGMA integrity_check` says ok, and the full-text index agrees with the turns.
Exits non-zero on any loss. Standard library only.
"""
import argparse, http.client, json, os, random, signal, sqlite3, subprocess, sys, tempfile
import threading, time

QUESTIONS = [
    "How long does standard shipping take?",
    "what payment methods do you accept",
    "can I return a final sale item?",
    "do you ship to Canada?",
    "how long do refunds take",
    "Where is my order LF-100001? My email is maya.chen@example.com",
]


def post(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", "/v1/answer", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


def start(bin_, data, port, log):
    env = dict(os.environ, SHOPKEEP_DATA_DIR=data, SHOPKEEP_PORT=str(port), RUST_LOG="warn")
    demo = ["--demo"] if "--demo" in subprocess.run([bin_, "serve", "--help"], capture_output=True, text=True).stdout else []
    p = subprocess.Popen([bin_, "serve", *demo], env=env, stdout=log, stderr=log)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return p
        except OSError:
            pass
        if p.poll() is not None:
            sys.exit(f"crash-test: the server exited with {p.returncode} while starting")
        time.sleep(0.2)
    sys.exit("crash-test: the server did not become ready")


def load(port, stop, acked, errors):
    rng = random.Random()
    conversation = None
    while not stop.is_set():
        body = {"message": rng.choice(QUESTIONS)}
        if conversation and rng.random() < 0.5:
            body["conversation_id"] = conversation
        try:
            status, data = post(port, body)
        except OSError:
            continue  # the server went away mid-request: not acknowledged
        if status == 200:
            a = json.loads(data)
            conversation = a["conversation_id"]
            acked.append((a["conversation_id"], body["message"], a["reply"]))
        elif status not in (429, 503):
            errors.append((status, data[:200]))


def check(db, acked):
    conn = sqlite3.connect(db)
    lost = []
    for cid, question, reply in acked:
        row = conn.execute(
            "SELECT a.id FROM turns a JOIN turns c ON c.conversation_id = a.conversation_id AND c.id < a.id "
            "AND c.role = 'customer' AND c.text = ? WHERE a.conversation_id = ? AND a.role = 'assistant' AND a.text = ? LIMIT 1",
            (question, cid, reply),
        ).fetchone()
        if row is None:
            lost.append(cid)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.execute("INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check')")
    turns = conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
    conn.close()
    return lost, integrity, turns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/shopkeep")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--port", type=int, default=18941)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="shopkeep-crash-")
    data = os.path.join(work, "data")
    log = open(os.path.join(work, "server.log"), "ab")
    all_acked, failed = [], False
    for round_ in range(1, args.rounds + 1):
        server = start(args.bin, data, args.port, log)
        stop, acked, errors = threading.Event(), [], []
        threads = [threading.Thread(target=load, args=(args.port, stop, acked, errors)) for _ in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        server.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
        server.wait()
        stop.set()
        for t in threads:
            t.join()
        all_acked.extend(acked)
        # Reopen: the server recovers the WAL; then look at what it has.
        server = start(args.bin, data, args.port, log)
        lost, integrity, turns = check(os.path.join(data, "shopkeep.db"), all_acked)
        server.send_signal(signal.SIGTERM)
        server.wait()
        print(f"round {round_}: {len(acked)} acknowledged this round, {len(all_acked)} in all; "
              f"{len(lost)} lost; integrity_check {integrity}; {turns} turns stored; "
              f"{len(errors)} unexpected statuses")
        if lost or integrity != "ok" or errors:
            failed = True
            for e in errors[:5]:
                print("  unexpected:", e)
            for cid in lost[:5]:
                print("  lost in", cid)
    print("crash-test:", "FAILED" if failed else "ok: every acknowledged turn survived kill -9")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
