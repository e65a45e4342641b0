/* shopkeep chat widget. Served by shopkeep at /widget.js; one tag on any store page:
 *   <script src="https://HOST/widget.js" data-store="Store name" data-product-id="…"
 *           data-customer-token="…" async></script>
 * No framework and no other requests than to the shopkeep server the script came from. Its
 * markup lives in a shadow root, so the store's CSS and the widget's never touch each other.
 * Server text is only ever put in with textContent (never as HTML). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__shopkeepWidget) return; // a second copy of the tag is a no-op
  window.__shopkeepWidget = true;

  var CSS = "__SHOPKEEP_CSS__";
  var BASE = new URL(script.src, location.href).origin;
  var ds = script.dataset;
  var STORE = (ds.store || "").trim() || "Support";
  var PRODUCT = (ds.productId || "").trim() || null;
  var TOKEN = (ds.customerToken || "").trim() || null;
  var KEY = "shopkeep:" + STORE + ":conversation";
  var OPEN_KEY = "shopkeep:" + STORE + ":open";

  // --- the conversation kept across page loads ------------------------------------------------
  // Stored with a fingerprint of the shopper's token, not the token: a different shopper (or a
  // log-out) on the same browser starts a new conversation instead of inheriting one.
  function fingerprint(s) {
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return (h >>> 0).toString(16);
  }
  var WHO = TOKEN ? fingerprint(TOKEN) : "";
  function storage(kind) { try { return window[kind]; } catch (e) { return null; } }
  function loadId() {
    var s = storage("localStorage"); if (!s) return null;
    try { var v = JSON.parse(s.getItem(KEY) || "null"); return v && v.who === WHO ? v.id : null; } catch (e) { return null; }
  }
  function saveId(id) {
    var s = storage("localStorage"); if (!s) return;
    try { if (id) s.setItem(KEY, JSON.stringify({ id: id, who: WHO })); else s.removeItem(KEY); } catch (e) { /* private mode */ }
  }
  function setOpenFlag(open) {
    var s = storage("sessionStorage"); if (!s) return;
    try { if (open) s.setItem(OPEN_KEY, "1"); else s.removeItem(OPEN_KEY); } catch (e) { /* private mode */ }
  }
  function openFlag() { var s = storage("sessionStorage"); try { return !!(s && s.getItem(OPEN_KEY)); } catch (e) { return false; } }

  // --- markup ----------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") n.textContent = attrs[k];
      else if (k === "class") n.className = attrs[k];
      else if (attrs[k] === true) n.setAttribute(k, "");
      else if (attrs[k] != null && attrs[k] !== false) n.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }
  function safeUrl(u) {
    try { var p = new URL(u, location.href); return p.protocol === "https:" || p.protocol === "http:" ? p.href : null; } catch (e) { return null; }
  }

  // A speech bubble drawn inline: no icon font, no image request.
  function chatIcon() {
    var NS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "20"); svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true"); svg.setAttribute("focusable", "false"); svg.setAttribute("class", "sk-launcher-icon");
    var path = document.createElementNS(NS, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z");
    svg.appendChild(path);
    return svg;
  }

  var host = el("div", { id: "shopkeep-widget" });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", { text: CSS }));

  // The launcher's name comes from what it shows ("Chat", the unread count) plus words only a
  // screen reader reads, in that order: no aria-label that could say something else than the
  // button shows (people using voice control say what they see).
  var badge = el("span", { class: "sk-badge", hidden: true });
  var launcher = el("button", { class: "sk-launcher", type: "button", "aria-expanded": "false", "aria-controls": "sk-panel" }, [
    chatIcon(), el("span", { class: "sk-launcher-text", text: "Chat" }), el("span", { class: "sk-sr", text: " with " + STORE }), badge
  ]);
  var title = el("h2", { id: "sk-title", text: STORE });
  var subtitle = el("p", { class: "sk-subtitle", id: "sk-subtitle", text: "Ask about an order, a return or a product" });
  var closeBtn = el("button", { class: "sk-close", type: "button", "aria-label": "Close chat" }, [el("span", { "aria-hidden": "true", text: "\u00d7" })]);
  var banner = el("div", { class: "sk-handoff", hidden: true });
  // The transcript: a list of messages inside a live log region. (A list cannot be the log
  // itself: role="log" on the <ol> takes away its list role, leaving the messages outside any
  // list.) The region scrolls, so it takes focus for keyboard users to scroll it.
  var list = el("ol", { class: "sk-list" });
  var log = el("div", { class: "sk-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation with " + STORE, tabindex: "0" }, [list]);
  var typing = el("div", { class: "sk-typing", role: "status", "aria-live": "polite" });
  var input = el("textarea", { id: "sk-input", class: "sk-input", rows: "1", maxlength: "4000", autocomplete: "off", placeholder: "Type your message" });
  var sendBtn = el("button", { class: "sk-send", type: "submit" }, [el("span", { text: "Send" })]);
  var form = el("form", { class: "sk-form" }, [el("label", { for: "sk-input", class: "sk-sr", text: "Message to " + STORE }), input, sendBtn]);
  var panel = el("section", { id: "sk-panel", class: "sk-panel", role: "dialog", "aria-labelledby": "sk-title", "aria-describedby": "sk-subtitle", hidden: true }, [
    el("header", { class: "sk-header" }, [el("div", null, [title, subtitle]), closeBtn]), banner, log, typing, form
  ]);
  root.appendChild(el("div", { class: "sk" }, [panel, launcher]));

  // --- state -------------------------------------------------------------------------------------
  var conversation = loadId();
  var busy = false;
  var withPerson = false;
  var source = null;            // the EventSource for a person's replies
  var lastAgentTurn = 0;        // the newest agent turn shown
  var shownAgentTurns = {};     // agent turn ids already shown (history and live can overlap)
  var unread = 0;

  function isOpen() { return !panel.hidden; }
  function open(focus) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    host.setAttribute("data-open", "");
    setOpenFlag(true);
    unread = 0; showUnread();
    log.scrollTop = log.scrollHeight;
    if (focus !== false) input.focus();
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    host.removeAttribute("data-open");
    setOpenFlag(false);
    launcher.focus();
  }
  function showUnread() {
    badge.hidden = unread === 0;
    badge.textContent = "";
    if (unread) {
      badge.appendChild(document.createTextNode(String(unread)));
      badge.appendChild(el("span", { class: "sk-sr", text: " new " + (unread === 1 ? "reply" : "replies") }));
    }
  }

  launcher.addEventListener("click", function () { if (isOpen()) close(); else open(); });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.preventDefault(); close(); } });
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });
  input.addEventListener("keydown", function (e) {
    // Enter sends; Shift+Enter starts a new line.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input.value); }
  });
  input.addEventListener("input", function () { input.style.height = "auto"; input.style.height = Math.min(input.scrollHeight, 120) + "px"; });

  // --- rendering ---------------------------------------------------------------------------------
  var SPEAKER = { customer: "You", assistant: STORE + " assistant", agent: STORE + " team", note: STORE };
  function addMessage(role, text, extra) {
    extra = extra || {};
    var who = role === "agent" && extra.agent ? extra.agent + " (" + STORE + " team)" : SPEAKER[role] || STORE;
    var li = el("li", { class: "sk-msg sk-" + role, "data-role": role }, [
      el("span", { class: role === "customer" || role === "assistant" ? "sk-sr" : "sk-who", text: who + (role === "customer" || role === "assistant" ? " said:" : "") }),
      el("p", { class: "sk-text", text: text })
    ]);
    if (extra.turnId) li.setAttribute("data-turn", String(extra.turnId));
    if (extra.order) li.appendChild(orderCard(extra.order));
    if (extra.citations && extra.citations.length) li.appendChild(sources(extra.citations));
    list.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function sources(citations) {
    var seen = {}, items = [];
    citations.forEach(function (c) {
      var href = c.url && safeUrl(c.url);
      var label = c.title || c.doc_id || "Source";
      if (c.heading && c.heading !== c.title) label += " \u203a " + c.heading.split(" \u203a ").pop();
      var key = href || label;
      if (seen[key]) return; seen[key] = true;
      items.push(el("li", null, [href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: label }) : el("span", { text: label })]));
    });
    return el("div", { class: "sk-sources" }, [el("p", { class: "sk-sources-title", text: "Sources" }), el("ul", null, items)]);
  }

  function orderCard(o) {
    var rows = [];
    function row(label, value) { if (value) rows.push(el("dt", { text: label }), el("dd", null, [value])); }
    row("Status", o.status_label || o.status);
    row("Carrier", o.carrier);
    if (o.tracking_number) {
      var href = o.tracking_url && safeUrl(o.tracking_url);
      row("Tracking", href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", class: "sk-track", text: o.tracking_number }) : o.tracking_number);
    }
    row("Shipped", o.shipped_on);
    row("Estimated delivery", o.delivered_on ? null : o.estimated_delivery);
    row("Delivered", o.delivered_on);
    row("Latest update", o.latest_event);
    row("Total", o.total);
    var items = (o.items || []).map(function (i) {
      return el("li", { text: (i.quantity > 1 ? i.quantity + " \u00d7 " : "") + i.name + (i.options ? " (" + i.options + ")" : "") });
    });
    return el("section", { class: "sk-order", "data-status": o.status, "aria-label": "Order " + o.number }, [
      el("h3", { class: "sk-order-title" }, [el("span", { text: "Order " + o.number }), el("span", { class: "sk-status sk-status-" + o.status, text: o.status_label || o.status })]),
      el("dl", null, rows),
      items.length ? el("ul", { class: "sk-items", "aria-label": "Items" }, items) : null
    ]);
  }

  // Yes / No buttons under a reply that waits for a confirmation; they send the words a
  // customer would type, so the assistant reads them exactly as typed answers.
  function confirmButtons(li) {
    var yes = el("button", { type: "button", class: "sk-yes", text: "Yes, go ahead" });
    var no = el("button", { type: "button", class: "sk-no", text: "No, leave it" });
    yes.addEventListener("click", function () { send("yes"); });
    no.addEventListener("click", function () { send("no"); });
    li.appendChild(el("div", { class: "sk-confirm", role: "group", "aria-label": "Confirm this change" }, [yes, no]));
    return yes;
  }
  // Thumbs up / down under the latest reply: the team's metrics count them. Only the latest
  // reply carries them (the server rates the conversation's latest reply).
  function feedbackButtons(li) {
    var status = el("span", { class: "sk-fb-status", role: "status" });
    function button(rating, icon, label) {
      var b = el("button", { type: "button", class: "sk-fb-" + rating, "aria-label": label, "aria-pressed": "false", title: label }, [el("span", { "aria-hidden": "true", text: icon })]);
      b.addEventListener("click", function () {
        fetch(BASE + "/v1/conversations/" + encodeURIComponent(conversation) + "/feedback", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ rating: rating }) })
          .then(function (r) {
            if (!r.ok) throw new Error("feedback " + r.status);
            Array.prototype.forEach.call(group.querySelectorAll("button"), function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
            status.textContent = "Thanks for your feedback.";
          })
          .catch(function () { status.textContent = "Sorry, your feedback couldn't be sent."; });
      });
      return b;
    }
    var group = el("div", { class: "sk-feedback", role: "group", "aria-label": "Was this reply helpful?" }, [
      button("up", "\uD83D\uDC4D", "Helpful"), button("down", "\uD83D\uDC4E", "Not helpful"), status
    ]);
    li.appendChild(group);
  }
  function clearFeedback() {
    Array.prototype.forEach.call(root.querySelectorAll(".sk-feedback"), function (g) { g.parentNode.removeChild(g); });
  }
  function clearConfirm() {
    Array.prototype.forEach.call(root.querySelectorAll(".sk-confirm"), function (g) { g.parentNode.removeChild(g); });
  }

  function setHandoff(reference) {
    withPerson = true;
    host.setAttribute("data-handoff", reference || "");
    banner.hidden = false;
    banner.textContent = "";
    banner.appendChild(el("strong", { text: "You're talking with the " + STORE + " team." }));
    banner.appendChild(el("span", { text: " A person will reply here" + (reference ? " (reference " + reference + ")" : "") + ". You can close this window and come back." }));
    subtitle.textContent = "With a member of our team";
    listen();
  }

  function setBusy(on) {
    busy = on;
    sendBtn.disabled = on;
    log.setAttribute("aria-busy", on ? "true" : "false");
    typing.textContent = "";
    if (on) {
      typing.appendChild(el("span", { class: "sk-dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]));
      typing.appendChild(el("span", { class: "sk-typing-text", text: STORE + " is typing\u2026" }));
    }
    typing.classList.toggle("sk-on", on);
  }

  function note(text) { addMessage("note", text); }

  // --- talking to the server -------------------------------------------------------------------
  function send(text) {
    text = (text || "").trim();
    if (!text || busy) return;
    clearConfirm();
    clearFeedback();
    input.value = ""; input.style.height = "auto";
    addMessage("customer", text);
    setBusy(true);
    post(text, false);
  }

  function post(text, retried) {
    var body = { message: text, channel: "widget" };
    if (conversation) body.conversation_id = conversation;
    if (TOKEN) body.customer = { token: TOKEN };
    body.context = { page_url: location.href.slice(0, 2000) };
    if (PRODUCT) body.context.product_id = PRODUCT;
    fetch(BASE + "/v1/answer", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); })
      .then(function (res) {
        if (!res.ok) {
          var code = res.body && res.body.error && res.body.error.code;
          // The kept conversation is gone (erased, purged, another server): start a new one
          // with the same message rather than losing it.
          if ((code === "conversation_not_found" || code === "invalid_conversation_id") && conversation && !retried) {
            conversation = null; saveId(null);
            post(text, true);
            return;
          }
          setBusy(false);
          note(res.status === 503 ? "We're very busy right now. Please try again in a moment." :
            (res.body && res.body.error && res.body.error.message) || "Sorry, something went wrong. Please try again.");
          return;
        }
        setBusy(false);
        render(res.body);
      })
      .catch(function () { setBusy(false); note("Sorry, we couldn't reach " + STORE + ". Please check your connection and try again."); })
      .then(function () { if (isOpen()) input.focus(); });
  }

  function render(a) {
    if (a.conversation_id && a.conversation_id !== conversation) { conversation = a.conversation_id; saveId(conversation); }
    var li = addMessage("assistant", a.reply, { order: a.order, citations: a.citations });
    if (a.awaiting_confirmation) confirmButtons(li);
    else if (!a.handoff && !a.with_person && conversation) feedbackButtons(li);
    if (a.handoff || a.with_person) setHandoff(a.handoff ? a.handoff.id : host.getAttribute("data-handoff"));
  }

  function showAgentTurn(t) {
    if (shownAgentTurns[t.id]) return;
    shownAgentTurns[t.id] = true;
    lastAgentTurn = Math.max(lastAgentTurn, t.id);
    addMessage("agent", t.text, { agent: t.agent, turnId: t.id });
    if (!isOpen()) { unread++; showUnread(); }
  }

  // A person's replies arrive as server-sent events. EventSource reconnects by itself and says
  // where it got to (Last-Event-ID); `after` covers the replies already shown from history.
  function listen() {
    if (source || !conversation || typeof EventSource === "undefined") return;
    source = new EventSource(BASE + "/v1/conversations/" + encodeURIComponent(conversation) + "/events?after=" + lastAgentTurn);
    source.addEventListener("open", function () { host.setAttribute("data-live", "open"); });
    source.addEventListener("error", function () {
      host.setAttribute("data-live", "reconnecting");
      // A refused stream (503 when the server holds as many as it allows) is not retried by
      // EventSource itself: try again a little later, with the replies missed meanwhile.
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        setTimeout(listen, 5000 + Math.floor(Math.random() * 5000));
      }
    });
    source.addEventListener("turn", function (e) {
      try { showAgentTurn(JSON.parse(e.data)); } catch (err) { /* a malformed event is skipped */ }
    });
  }

  // The conversation so far, after a page load.
  function restore() {
    if (!conversation) { host.setAttribute("data-ready", ""); return; }
    log.setAttribute("aria-busy", "true");
    fetch(BASE + "/v1/conversations/" + encodeURIComponent(conversation))
      .then(function (r) {
        if (r.status === 404 || r.status === 400) { conversation = null; saveId(null); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (c) {
        if (!c) return;
        var last = null;
        c.turns.forEach(function (t) {
          if (t.role === "agent") { showAgentTurn(t); unread = 0; showUnread(); return; }
          last = addMessage(t.role === "customer" ? "customer" : "assistant", t.text, { order: t.order, citations: t.citations, turnId: t.id });
        });
        if (c.awaiting_confirmation && last && last.getAttribute("data-role") === "assistant") confirmButtons(last);
        if (c.with_person) setHandoff(c.handoff_id);
      })
      .catch(function () { /* offline: start fresh view, keep the id for next time */ })
      .then(function () { log.setAttribute("aria-busy", "false"); host.setAttribute("data-ready", ""); });
  }

  function mount() {
    document.body.appendChild(host);
    restore();
    if (openFlag()) open(false);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
