#!/usr/bin/env python3
"""Writes tests/fixtures/guided-actions.jsonl: requests in everyday English on the τ-bench retail
store (../shared/eval/tau-retail/db.json), each with the writes a careful agent makes after the
customer's one message and a "yes" to its confirmation. Same shape as dev.jsonl (id, message,
expected_actions, kind, note).

The scenarios follow the kinds of τ² retail tasks (returns, exchanges, cancellations, changes to
pending orders, addresses, payment) and the ways a planner over-reaches: scope (the account's
address is not an order's address), comparisons over the catalogue (cheapest, highest X, at
the price I paid, the same colour as my other one), preferences between two requests that
cannot both be done, hesitation, ambiguity, and conditions. Where the right behaviour is to
ask, expected_actions is empty. Expected writes are computed from the data here, with the
store's policy (../shared/eval/tau-retail/policy.md): returns and exchanges of delivered
orders, one exchange or item change per order, whole-order cancellation of pending orders for
"no longer needed" or "ordered by mistake", refunds to the original method or a gift card.

Usage: python3 scripts/guided-set.py [DB] > tests/fixtures/guided-actions.jsonl
"""

import json
import random
import re
import sys

DB = sys.argv[1] if len(sys.argv) > 1 else "../shared/eval/tau-retail/db.json"
db = json.load(open(DB))
rng = random.Random(19)
users = [db["users"][k] for k in sorted(db["users"])]
orders = db["orders"]
products = db["products"]
cases = []


def who(u, i):
    n = u["name"]
    forms = [
        f"My name is {n['first_name']} {n['last_name']} and my zip code is {u['address']['zip']}.",
        f"Hi, this is {n['first_name']} {n['last_name']}, zip code {u['address']['zip']}.",
        f"My name is {n['first_name']} {n['last_name']} and my email is {u['email']}.",
        f"Hello! I'm {n['first_name']} {n['last_name']}, ZIP {u['address']['zip']}.",
    ]
    return forms[i % len(forms)]


def add(kind, u, text, expected, note=""):
    cid = f"guided-{len(cases):03d}-{kind}"
    cases.append({"id": cid, "kind": kind, "message": f"{who(u, len(cases))} {text}", "expected_actions": expected, "user_id": u["user_id"], "note": note})


def user_orders(u):
    return [orders[o] for o in u["orders"] if o in orders]


def product_lines(u, pid):
    return [(o, it) for o in user_orders(u) for it in o["items"] if it["product_id"] == pid]


def original(o):
    return next(p["payment_method_id"] for p in o["payment_history"] if p["transaction_type"] == "payment")


def method_words(u, mid):
    m = u["payment_methods"][mid]
    if m["source"] == "paypal":
        return "my PayPal"
    if m["source"] == "gift_card":
        return "my gift card"
    return f"my {m.get('brand', 'credit').title()} ending in {m['last_four']}"


def unique_kind(u, mid):
    src = u["payment_methods"][mid]["source"]
    return sum(1 for m in u["payment_methods"].values() if m["source"] == src) == 1


def lower_name(it):
    return it["name"].lower()


def addr_args(a):
    return {"address1": a["address1"], "address2": a["address2"], "city": a["city"], "state": a["state"], "country": "USA", "zip": a["zip"]}


STREETS = ["Birch Lane", "Juniper Court", "Harbor View Road", "Quarry Street", "Orchard Way", "Lantern Avenue", "Mill Pond Drive", "Foxglove Terrace"]
CITIES = [("Portland", "OR", "97205"), ("Austin", "TX", "78704"), ("Columbus", "OH", "43215"), ("Madison", "WI", "53703"), ("Boise", "ID", "83702"), ("Raleigh", "NC", "27601")]


def new_address(i):
    c = CITIES[i % len(CITIES)]
    return {"address1": f"{100 + 37 * i} {STREETS[i % len(STREETS)]}", "address2": "", "city": c[0], "state": c[1], "country": "USA", "zip": c[2]}


def written(a):
    return f"{a['address1']}, {a['city']}, {a['state']} {a['zip']}"


def variants(pid):
    return list(products[pid]["variants"].values())


def rank(key, value, values):
    """The order of an option's values, where it has one."""
    def num(v):
        m = re.match(r"(\d+(?:\.\d+)?)\s*([kK])?", re.sub(r"^[^\d]*", "", v))
        if not m:
            return None
        n = float(m.group(1))
        if m.group(2):
            n *= 1000
        elif v.endswith("p"):
            n = n * 16 / 9
        return n
    if all(num(v) is not None for v in values):
        return num(value)
    for scale in (["xs", "s", "m", "l", "xl", "xxl"], ["portable", "small", "medium", "large"], ["low", "medium", "high"], ["beginner", "intermediate", "expert"]):
        if all(v.lower() in scale for v in values):
            return scale.index(value.lower())
    return None


ORDERED_WORDS = {"resolution": ("highest resolution", "lowest resolution"), "capacity": ("largest capacity", "smallest capacity"), "storage": ("most storage", "least storage"),
                 "size": ("biggest size", "smallest size"), "zoom": ("longest zoom", "shortest zoom"), "length": ("greatest length", "shortest length"), "brightness": ("highest brightness", "lowest brightness"),
                 "pieces": ("most pieces", "fewest pieces"), "thickness": ("greatest thickness", "least thickness"), "battery life": ("longest battery life", "shortest battery life")}

delivered_users = []
for u in users:
    os_ = user_orders(u)
    if any(o["status"] == "delivered" for o in os_):
        delivered_users.append(u)
rng.shuffle(delivered_users)
pending_users = [u for u in users if any(o["status"] == "pending" for o in user_orders(u))]
rng.shuffle(pending_users)
used = set()


def fresh(pool, pred):
    for u in pool:
        if u["user_id"] in used:
            continue
        r = pred(u)
        if r:
            used.add(u["user_id"])
            yield u, r


def take(gen, n):
    out = []
    for x in gen:
        out.append(x)
        if len(out) == n:
            break
    return out


# --- Returns: one named item, refund to the original method --------------------------------------
def single_delivered_item(u):
    for o in user_orders(u):
        if o["status"] != "delivered":
            continue
        for it in o["items"]:
            if len(product_lines(u, it["product_id"])) == 1 and len(o["items"]) >= 2:
                return o, it
    return None


RETURN_PHRASES = [
    "I'd like to send back the {item} I received; it isn't what I expected. The refund can go back to the card or account I paid with.",
    "Please return the {item} from my delivered order and refund it the way I paid.",
    "The {item} I got doesn't work for me. Can you set up a return for just that one, refunded to the original payment method?",
    "I want to return my {item}, nothing else from that order. Refund to the original payment, please.",
    "Could you start a return for the {item}? Only that item. Send the money back to how I paid.",
    "I'm returning the {item}. Please keep everything else in that order as is, and refund the original payment method.",
]
for i, (u, (o, it)) in enumerate(take(fresh(delivered_users, single_delivered_item), 10)):
    add("return", u, RETURN_PHRASES[i % len(RETURN_PHRASES)].format(item=lower_name(it)),
        [{"name": "return_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [it["item_id"]], "payment_method_id": original(o)}}],
        "only the named item; refund to the original method")


# --- Returns to a gift card ------------------------------------------------------------------------
def gift_return(u):
    gcs = [m for m in u["payment_methods"].values() if m["source"] == "gift_card"]
    if len(gcs) != 1:
        return None
    r = single_delivered_item(u)
    return (r, gcs[0]["id"]) if r else None


for i, (u, ((o, it), gc)) in enumerate(take(fresh(delivered_users, gift_return), 5)):
    text = ["Please return the {item} I received and put the refund on my gift card.", "I want to send the {item} back. Refund it to my gift card, not the card I paid with.",
            "Can I return the {item}? I'd like the money on my gift card."][i % 3].format(item=lower_name(it))
    exp_mid = gc if original(o) != gc or True else gc
    add("return", u, text, [{"name": "return_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [it["item_id"]], "payment_method_id": exp_mid}}], "refund to the one gift card")


# --- Cancellations ---------------------------------------------------------------------------------
def one_pending(u):
    ps = [o for o in user_orders(u) if o["status"] == "pending"]
    return ps[0] if ps else None


CANCEL_PHRASES = [
    ("Please cancel order {n}. I ordered it by mistake.", "ordered by mistake"),
    ("I no longer need order {n}, could you cancel it?", "no longer needed"),
    ("Cancel {n} please, I placed it by accident.", "ordered by mistake"),
    ("I'd like order {n} cancelled since I don't need it anymore.", "no longer needed"),
    ("Order {n} was a mistake on my part. Please cancel the whole thing.", "ordered by mistake"),
    ("Can you cancel {n}? Turns out I don't need those things any more.", "no longer needed"),
    ("I accidentally ordered {n} twice in my head; please cancel {n}, it was ordered by mistake.", "ordered by mistake"),
    ("Please cancel my order {n}. I found I no longer need it.", "no longer needed"),
]
for i, (u, o) in enumerate(take(fresh(pending_users, one_pending), 8)):
    text, reason = CANCEL_PHRASES[i]
    add("cancel", u, text.format(n=o["order_id"]), [{"name": "cancel_pending_order", "arguments": {"order_id": o["order_id"], "reason": reason}}], "whole order, a reason given")

# No reason: the policy needs one, so the agent asks.
for i, (u, o) in enumerate(take(fresh(pending_users, one_pending), 5)):
    text = ["Please cancel order {n}.", "I want to cancel {n}.", "Could you cancel my order {n} for me?", "Cancel {n}, thanks.", "I need order {n} cancelled."][i]
    add("ask-reason", u, text.format(n=o["order_id"]), [], "no reason given: ask for it")

# Too expensive is not an accepted reason: refuse (nothing written).
for i, (u, o) in enumerate(take(fresh(pending_users, one_pending), 3)):
    text = ["Please cancel order {n}, I found it cheaper elsewhere.", "Cancel {n} because shipping is taking too long.", "I want to cancel {n}; the price went down on another site."][i]
    add("refuse-reason", u, text.format(n=o["order_id"]), [], "a reason the policy does not accept")


# --- Scope: the account's address, one order's address -----------------------------------------------
def several_pending(u):
    ps = [o for o in user_orders(u) if o["status"] == "pending"]
    return ps if len(ps) >= 2 else None


DEFAULT_ONLY = [
    "Please update the default address on my account to {a}. My current orders can keep shipping where they are.",
    "I'd like to change my account address to {a}.",
    "Change the address on my profile to {a}, please. Just the profile.",
    "Can you set my default shipping address to {a}? Don't touch the orders I've already placed.",
    "My account's address should be {a} from now on.",
    "Update my user address to {a}.",
]
for i, (u, ps) in enumerate(take(fresh(pending_users, several_pending), 6)):
    a = new_address(i)
    add("scope-default", u, DEFAULT_ONLY[i].format(a=written(a)), [{"name": "modify_user_address", "arguments": dict(user_id=u["user_id"], **a)}], "the account only, not the pending orders")

ONE_ORDER = [
    "Please ship order {n} to {a} instead.",
    "For order {n} only, change the shipping address to {a}.",
    "Could you change the delivery address of {n} to {a}? Leave my account address alone.",
    "I need {n} to go to {a}. The other orders are fine.",
    "Change the address on order {n} to {a}, please.",
    "Send {n} to {a} rather than my usual address.",
]
for i, (u, ps) in enumerate(take(fresh(pending_users, several_pending), 6)):
    a = new_address(i + 10)
    o = ps[i % len(ps)]
    add("scope-order", u, ONE_ORDER[i].format(n=o["order_id"], a=written(a)), [{"name": "modify_pending_order_address", "arguments": dict(order_id=o["order_id"], **a)}], "that order only")

UNCLEAR_ADDR = [
    "I've moved to {a}. Please update my address.",
    "My new address is {a}, can you change it?",
    "Please change my address to {a}.",
    "I don't live at my old place any more; the new one is {a}. Update it please.",
    "New address: {a}. Please fix it.",
]
for i, (u, ps) in enumerate(take(fresh(pending_users, several_pending), 5)):
    a = new_address(i + 20)
    add("ask-scope", u, UNCLEAR_ADDR[i].format(a=written(a)), [], "unclear whether the account, the pending orders or both: ask")

# Both, said plainly.
for i, (u, ps) in enumerate(take(fresh(pending_users, several_pending), 3)):
    a = new_address(i + 30)
    o = ps[0]
    text = ["Please change my account's default address to {a}, and also ship order {n} there.", "Update my default address to {a} and change the address of order {n} to it as well.",
            "Set my profile address to {a}; order {n} should go to that address too."][i]
    add("scope-both", u, text.format(a=written(a), n=o["order_id"]),
        [{"name": "modify_user_address", "arguments": dict(user_id=u["user_id"], **a)}, {"name": "modify_pending_order_address", "arguments": dict(order_id=o["order_id"], **a)}], "both, each named")


# --- Hesitation: the customer has not decided -------------------------------------------------------
HESITANT = [
    "I'm thinking about returning the {item}, but I'm not sure yet. Don't do anything for now.",
    "I might want to return the {item}. Let me think it over before you set anything up.",
    "What would I get back if I returned the {item}? I want to think about it before deciding.",
    "I want to return the {item}, but please hold off, I need to rethink it before I confirm anything.",
    "Maybe I'll send back the {item}; I haven't decided. Please don't process anything yet.",
    "I'd like to return the {item}. Actually, wait, I need to talk to my partner first, so don't start it.",
    "Could I return the {item}? I'm still deciding, so nothing should be done today.",
    "Please don't start anything yet, but I'm considering returning the {item}.",
]
for i, (u, (o, it)) in enumerate(take(fresh(delivered_users, single_delivered_item), 8)):
    add("hesitation", u, HESITANT[i].format(item=lower_name(it)), [], "the customer has not decided: nothing is proposed")

HESITANT_CANCEL = ["I'm not sure whether to cancel order {n}; I ordered it by mistake but I might keep it. Let me think.",
                   "I may cancel order {n} (I no longer need it), but I want to sleep on it first.",
                   "Thinking of cancelling {n} since I no longer need it. I'll get back to you once I've decided."]
for i, (u, o) in enumerate(take(fresh(pending_users, one_pending), 3)):
    add("hesitation", u, HESITANT_CANCEL[i].format(n=o["order_id"]), [], "the customer has not decided")


# --- Ambiguity: which item ---------------------------------------------------------------------------
def two_lines_delivered(u):
    seen = {}
    for o in user_orders(u):
        if o["status"] != "delivered":
            continue
        for it in o["items"]:
            seen.setdefault(it["product_id"], []).append((o, it))
    for pid, ls in seen.items():
        if len({o["order_id"] for o, _ in ls}) >= 2 and len({it["item_id"] for _, it in ls}) >= 2:
            return ls[0][1]
    return None


AMBIG = ["Please return the {item}.", "I want to send back my {item}, refund to the original payment.", "Can you return the {item} I received?", "Return the {item} please.",
         "I'd like to exchange the {item} for the same one in another colour."]
for i, (u, it) in enumerate(take(fresh(delivered_users, two_lines_delivered), 5)):
    add("ask-which", u, AMBIG[i].format(item=lower_name(it)), [], "two delivered orders hold one: ask which")


# --- Comparisons over the catalogue ------------------------------------------------------------------
def extreme_case(u, want_high):
    for o in user_orders(u):
        if o["status"] != "delivered":
            continue
        for it in o["items"]:
            if len(product_lines(u, it["product_id"])) != 1:
                continue
            pid = it["product_id"]
            vs = variants(pid)
            keys = list(it["options"].keys())
            for key in keys:
                if key not in ORDERED_WORDS:
                    continue
                values = sorted({v["options"][key] for v in vs})
                if any(rank(key, x, values) is None for x in values):
                    continue
                # Same everything else, the highest (lowest) of `key` in stock.
                pool = [v for v in vs if v["available"] and all(v["options"][k] == it["options"][k] for k in keys if k != key)]
                if not pool:
                    continue
                best = max(rank(key, v["options"][key], values) * (1 if want_high else -1) for v in pool)
                top = [v for v in pool if rank(key, v["options"][key], values) * (1 if want_high else -1) == best]
                if len(top) == 1 and top[0]["item_id"] != it["item_id"] and pay_words_for(u, o):
                    return o, it, key, top[0]
    return None


def only_method(u):
    ms = list(u["payment_methods"])
    return ms[0] if len(ms) == 1 else None


def pay_words_for(u, o):
    mid = original(o)
    if u["payment_methods"].get(mid, {}).get("source") == "gift_card":
        return None
    if not unique_kind(u, mid):
        return None
    return mid, method_words(u, mid).replace(" card ending in", " ending in") if False else method_words(u, mid)


n_ext = 0
for want_high in (True, False):
    for u, (o, it, key, v) in take(fresh(delivered_users, lambda u, h=want_high: extreme_case(u, h)), 6):
        pw = pay_words_for(u, o)
        if not pw:
            used.discard(u["user_id"])
            continue
        mid, words = pw
        phrase = ORDERED_WORDS[key][0 if want_high else 1]
        others = [k for k in it["options"] if k != key]
        text = [f"I'd like to exchange my {lower_name(it)} for the one with the {phrase} you have in stock, with everything else the same. Use {words} for any difference.",
                f"Please swap the {lower_name(it)} I received for the {phrase} version available, keeping its other options as they are. Any difference goes on {words}.",
                f"Exchange my {lower_name(it)} for the {phrase} one in stock, otherwise identical. Charge or refund {words}."][n_ext % 3]
        n_ext += 1
        add("superlative", u, text, [{"name": "exchange_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [it["item_id"]], "new_item_ids": [v["item_id"]], "payment_method_id": mid}}],
            f"{key}: {v['options'][key]}, the {'highest' if want_high else 'lowest'} in stock with the rest unchanged")


def cheapest_case(u, status, most):
    for o in user_orders(u):
        if o["status"] != status:
            continue
        for it in o["items"]:
            if len(product_lines(u, it["product_id"])) != 1:
                continue
            pool = [v for v in variants(it["product_id"]) if v["available"]]
            if not pool:
                continue
            best = (max if most else min)(v["price"] for v in pool)
            top = [v for v in pool if v["price"] == best]
            if len(top) == 1 and top[0]["item_id"] != it["item_id"] and pay_words_for(u, o):
                return o, it, top[0]
    return None


k = 0
for status, most in (("delivered", False), ("pending", False), ("pending", True), ("delivered", True)):
    for u, (o, it, v) in take(fresh(pending_users if status == "pending" else delivered_users, lambda u, s=status, m=most: cheapest_case(u, s, m)), 3):
        pw = pay_words_for(u, o)
        if not pw:
            used.discard(u["user_id"])
            continue
        mid, words = pw
        adj = "most expensive" if most else "cheapest"
        if status == "pending":
            text = [f"Before order {o['order_id']} ships, please change the {lower_name(it)} in it to the {adj} {lower_name(it)} you have available. Settle the difference with {words}.",
                    f"In my pending order, switch the {lower_name(it)} to whichever {lower_name(it)} is the {adj} in stock right now; use {words} for the price difference."][k % 2]
            name = "modify_pending_order_items"
        else:
            text = [f"I want to exchange the {lower_name(it)} I received for the {adj} {lower_name(it)} in stock, any options. Use {words} for the difference.",
                    f"Could you swap my {lower_name(it)} for the {adj} one available? I don't mind the options. Put the difference on {words}."][k % 2]
            name = "exchange_delivered_order_items"
        k += 1
        add("superlative", u, text, [{"name": name, "arguments": {"order_id": o["order_id"], "item_ids": [it["item_id"]], "new_item_ids": [v["item_id"]], "payment_method_id": mid}}], f"the {adj} available: {v['price']}")


# --- References: "the same colour as my other …" -----------------------------------------------------
def reference_case(u):
    for o in user_orders(u):
        if o["status"] != "delivered":
            continue
        for it in o["items"]:
            ls = product_lines(u, it["product_id"])
            others = [(o2, it2) for o2, it2 in ls if o2["order_id"] != o["order_id"]]
            if len(ls) != 2 or len(others) != 1:
                continue
            o2, it2 = others[0]
            for key in it["options"]:
                if it["options"][key] == it2["options"][key]:
                    continue
                target = dict(it["options"])
                target[key] = it2["options"][key]
                match = [v for v in variants(it["product_id"]) if v["options"] == target and v["available"]]
                if len(match) == 1 and pay_words_for(u, o):
                    return o, it, o2, key, match[0]
    return None


for i, (u, (o, it, o2, key, v)) in enumerate(take(fresh(delivered_users, reference_case), 6)):
    pw = pay_words_for(u, o)
    if not pw:
        continue
    mid, words = pw
    word = "colour" if key == "color" else key
    text = [f"On order {o['order_id']}, please exchange the {lower_name(it)} for one in the same {word} as the {lower_name(it)} in my other order, otherwise the same. Use {words} for any difference.",
            f"I'd like the {lower_name(it)} from {o['order_id']} swapped for one with the same {word} as my other {lower_name(it)} (from order {o2['order_id']}); keep the rest as it is. {words.capitalize()} for the difference.",
            f"Exchange the {lower_name(it)} in order {o['order_id']} so it matches the {word} of my other {lower_name(it)}, nothing else changed. Any difference on {words}."][i % 3]
    add("reference", u, text, [{"name": "exchange_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [it["item_id"]], "new_item_ids": [v["item_id"]], "payment_method_id": mid}}],
        f"{key} of the line on {o2['order_id']}: {it2_value}" if False else f"{key} taken from the other order {o2['order_id']}")


# --- Preferences: two requests that cannot both be done --------------------------------------------
def pref_case(u):
    for o in user_orders(u):
        if o["status"] != "delivered" or len(o["items"]) < 2:
            continue
        a, b = o["items"][0], o["items"][1]
        if a["product_id"] == b["product_id"] or len(product_lines(u, a["product_id"])) != 1 or len(product_lines(u, b["product_id"])) != 1:
            continue
        # The exchange of b: the same item (an identical replacement), when it is in stock.
        same = [v for v in variants(b["product_id"]) if v["item_id"] == b["item_id"] and v["available"]]
        if same and pay_words_for(u, o):
            return o, a, b
    return None


for i, (u, (o, a, b)) in enumerate(take(fresh(delivered_users, pref_case), 6)):
    pw = pay_words_for(u, o)
    if not pw:
        continue
    mid, words = pw
    prefer_exchange = i % 2 == 0
    text = [f"I want to return the {lower_name(a)} and exchange the {lower_name(b)} for a new identical one, both from order {o['order_id']}. If you can only do one of the two, I prefer the exchange. Use {words} for any refund or difference.",
            f"From order {o['order_id']}: please return the {lower_name(a)}, and replace the {lower_name(b)} with the exact same item. If only one of these is possible, I'd rather have the return. Refunds to {words}.",
            f"Please exchange the {lower_name(b)} from {o['order_id']} for an identical one, and return the {lower_name(a)} from the same order. If it has to be one or the other, the exchange matters more to me. {words.capitalize()} for payments.",
            f"Return the {lower_name(a)} and swap the {lower_name(b)} for the same one, both on order {o['order_id']}. If you can't do both, prefer the return. Use {words}."][i % 4]
    if prefer_exchange:
        exp = [{"name": "exchange_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [b["item_id"]], "new_item_ids": [b["item_id"]], "payment_method_id": mid}}]
    else:
        exp = [{"name": "return_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [a["item_id"]], "payment_method_id": mid}}]
    add("preference", u, text, exp, "an order takes a return or an exchange, not both: the preferred one")


# --- Conditions checkable from the data -----------------------------------------------------------
def status_case(u):
    for o in user_orders(u):
        if o["status"] in ("pending", "delivered"):
            it = o["items"][0]
            if len(product_lines(u, it["product_id"])) == 1:
                return o, it
    return None


for i, (u, (o, it)) in enumerate(take(fresh(users, status_case), 6)):
    text = [f"If order {o['order_id']} hasn't shipped yet, cancel it, I no longer need it. If it has already been delivered, return the {lower_name(it)} instead, refund to the original payment.",
            f"Order {o['order_id']}: cancel it if it's still pending (ordered by mistake); otherwise, if it arrived, I want to return the {lower_name(it)} to the original payment method.",
            f"I don't need the {lower_name(it)} from {o['order_id']} anymore. If the order is still pending please cancel it as no longer needed, and if it was delivered, return just the {lower_name(it)} to my original payment."][i % 3]
    if o["status"] == "pending":
        reason = "ordered by mistake" if i % 3 == 1 else "no longer needed"
        exp = [{"name": "cancel_pending_order", "arguments": {"order_id": o["order_id"], "reason": reason}}]
    else:
        exp = [{"name": "return_delivered_order_items", "arguments": {"order_id": o["order_id"], "item_ids": [it["item_id"]], "payment_method_id": original(o)}}]
    add("condition", u, text, exp, f"the order is {o['status']}")

# Conditions nobody can check here: ask.
for i, (u, o) in enumerate(take(fresh(pending_users, one_pending), 4)):
    text = [f"If order {o['order_id']} won't arrive by Friday, cancel it; I'd no longer need it.", f"Cancel {o['order_id']} if my sister hasn't already bought me the same thing (ordered by mistake then).",
            f"If the price of order {o['order_id']} drops next week, cancel it because I no longer need it.", f"Please cancel {o['order_id']} unless my manager approves it tomorrow; I ordered it by mistake."][i]
    add("ask-condition", u, text, [], "a condition the agent cannot check: ask")


# --- Payment of a pending order ------------------------------------------------------------------------
def pay_case(u):
    for o in user_orders(u):
        if o["status"] != "pending":
            continue
        total = sum(p["amount"] for p in o["payment_history"] if p["transaction_type"] == "payment") - sum(p["amount"] for p in o["payment_history"] if p["transaction_type"] == "refund")
        for src in ("gift_card", "paypal"):
            ms = [m for m in u["payment_methods"].values() if m["source"] == src]
            if len(ms) == 1 and original(o) != ms[0]["id"] and (src != "gift_card" or ms[0]["balance"] >= total):
                return o, ms[0]["id"], "gift card" if src == "gift_card" else "PayPal"
    return None


for i, (u, (o, mid, word)) in enumerate(take(fresh(pending_users, pay_case), 6)):
    text = [f"Could I pay for order {o['order_id']} with my {word} instead?", f"Please switch the payment on {o['order_id']} to my {word} instead of what I used.",
            f"I'd like to pay order {o['order_id']} with my {word} instead.", f"Change the payment method of order {o['order_id']} to my {word}.",
            f"For {o['order_id']}, I want to pay using my {word} instead.", f"Please charge order {o['order_id']} to my {word} instead of the original method."][i]
    add("payment", u, text, [{"name": "modify_pending_order_payment", "arguments": {"order_id": o["order_id"], "payment_method_id": mid}}], "another method of theirs for that order")


# --- Scope: an order to the account's address ----------------------------------------------------------
def to_default_case(u):
    ps = [o for o in user_orders(u) if o["status"] == "pending"]
    for o in ps:
        if o["address"] != u["address"] and len(ps) >= 2:
            return o
    return None


for i, (u, o) in enumerate(take(fresh(pending_users, to_default_case), 4)):
    text = [f"Order {o['order_id']} is going to the wrong place. Please send it to the default address on my account.", f"Change the shipping address of {o['order_id']} to my default address. Only that order.",
            f"Could {o['order_id']} ship to the address on my profile instead?", f"Please redirect order {o['order_id']} to my account address; my other orders are fine."][i]
    add("scope-order", u, text, [{"name": "modify_pending_order_address", "arguments": dict(order_id=o["order_id"], **addr_args(u["address"]))}], "that order, to the account's address")

for c in cases:
    print(json.dumps(c))
print(f"{len(cases)} cases; {sum(1 for c in cases if not c['expected_actions'])} ask", file=sys.stderr)
