//! `GET /admin/handoffs[?status=&reason=&channel=&claimed_by=&view=mine]` (the queue for a
//! shift: each hand-off's age against the reply-time target, overdue ones marked, filters by
//! reason, channel and claimant, and one's own claims), `GET /admin/handoffs/{id}[?reply=N]`
//! (the hand-off packet: transcript, why it was handed off with the gate's scores, intent, the
//! verified customer by name and email, the order in the store's currency, passages, the
//! suggested draft, and the saved replies filled from the verified order: `?reply=N` puts one
//! into the reply box to edit before sending), and the forms `POST /admin/handoffs/{id}/claim`,
//! `/reply`, `/resolve`. The JSON side is `http::handoffs`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    blocking,
    html::{form, json_block, page, when},
    session::{Desk, Empty, Posted},
    transcript,
};
use crate::{
    app::App,
    desk::{
        self,
        accounts::Role,
        present::{self, minutes_words, Presenter},
        replies::{self, Facts, SavedReply},
        Queue, QueueFilter,
    },
    http::ApiError,
    journal::{HandoffRecord, StoredTurn},
    orders::{Customer, Order},
};

/// The customers the queue's hand-offs name, looked up once per page.
fn customers_of<'a>(
    app: &App,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Customer>, ApiError> {
    let mut found = HashMap::new();
    for id in ids {
        if !found.contains_key(id) {
            if let Some(c) = app.assistant.orders.customer(id)? {
                found.insert(id.to_string(), c);
            }
        }
    }
    Ok(found)
}

/// A customer by name and email (the email masked with `mask`), or their id when unknown.
pub(super) fn customer_name(c: Option<&Customer>, id: &str, mask: bool) -> Markup {
    match c {
        Some(c) => html! {
            span.customer { (c.full_name()) " " span.muted { "<" (crate::privacy::for_log(&c.email, mask)) ">" } }
        },
        None => html! { span.muted { (id) } },
    }
}

pub async fn queue(
    desk: Desk,
    State(app): State<Arc<App>>,
    query: Result<Query<QueueFilter>, QueryRejection>,
) -> Response {
    let filter = match query {
        Ok(Query(f)) => f,
        Err(e) => {
            return desk.error(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                e.body_text(),
            ))
        }
    };
    let (me, target, f) = (desk.staff.email.clone(), desk.target_mins, filter.clone());
    let found = blocking(move || -> Result<_, ApiError> {
        let q = desk::queue(
            &app.assistant.journal,
            &f,
            &me,
            target,
            jiff::Timestamp::now(),
        )?;
        let customers = customers_of(
            &app,
            q.items
                .iter()
                .filter_map(|i| i.queued.handoff.packet.identity.customer_id.as_deref()),
        )?;
        Ok((q, customers, app.config.privacy.mask_logs))
    })
    .await;
    let (q, customers, mask) = match found {
        Ok(x) => x,
        Err(e) => return desk.error(e),
    };
    let title = if filter.mine() { "Mine" } else { "Hand-offs" };
    let current = if filter.mine() {
        "/admin/handoffs?view=mine"
    } else {
        "/admin/handoffs"
    };
    let body = render_queue(&desk, &filter, &q, &customers, mask);
    page(title, Some(&desk.viewer()), current, body).into_response()
}

fn render_queue(
    desk: &Desk,
    filter: &QueueFilter,
    q: &Queue,
    customers: &HashMap<String, Customer>,
    mask: bool,
) -> Markup {
    let p = &desk.present;
    let tabs = [
        ("open", "/admin/handoffs?status=open", "Waiting"),
        ("claimed", "/admin/handoffs?status=claimed", "Claimed"),
        ("resolved", "/admin/handoffs?status=resolved", "Resolved"),
        ("mine", "/admin/handoffs?view=mine", "Mine"),
    ];
    let selected = if filter.mine() {
        "mine"
    } else {
        q.status.as_str()
    };
    let overdue = q.items.iter().filter(|i| i.overdue).count();
    html! {
        h1 { @if filter.mine() { "Mine: hand-offs you have claimed" } @else { "Hand-offs" } }
        nav.tabs aria-label="Hand-off status" {
            @for (key, href, label) in tabs {
                a href=(href) aria-current=[(key == selected).then_some("page")] { (label) }
            }
        }
        p.muted {
            "Reply-time target: " (minutes_words(q.target_mins)) " for a person's first reply. "
            @if overdue > 0 { strong.overdue-text { (overdue) " overdue" } " · " }
            (q.items.len()) " of " (q.unfiltered) " shown, oldest first."
        }
        @if q.folded > 0 || filter.show_repeats() {
            // The same filters, with repeats shown or folded again.
            form.inline method="get" action="/admin/handoffs" {
                @if filter.mine() { input type="hidden" name="view" value="mine"; }
                @else { input type="hidden" name="status" value=(q.status); }
                @if let Some(r) = filter.reason() { input type="hidden" name="reason" value=(r); }
                @if let Some(c) = filter.channel() { input type="hidden" name="channel" value=(c); }
                @if let Some(c) = filter.claimed_by() { input type="hidden" name="claimed_by" value=(c); }
                @if filter.show_repeats() {
                    button.quiet type="submit" id="fold-repeats" { "Fold repeats" }
                } @else {
                    input type="hidden" name="repeats" value="show";
                    span.muted { (q.folded) " repeat" @if q.folded != 1 { "s" } " (the same customer, or the same message again) folded under the first. " }
                    button.quiet type="submit" id="show-repeats" { "Show them" }
                }
            }
        }
        form.filters method="get" action="/admin/handoffs" {
            @if filter.mine() { input type="hidden" name="view" value="mine"; }
            @else { input type="hidden" name="status" value=(q.status); }
            div {
                label for="f-reason" { "Reason" }
                select id="f-reason" name="reason" {
                    option value="" { "any" }
                    @for (code, n) in &q.reasons {
                        option value=(code) selected[filter.reason() == Some(code.as_str())] { (present::reason(code)) " (" (n) ")" }
                    }
                }
            }
            div {
                label for="f-channel" { "Channel" }
                select id="f-channel" name="channel" {
                    option value="" { "any" }
                    @for (code, n) in &q.channels {
                        option value=(code) selected[filter.channel() == Some(code.as_str())] { (present::channel(code)) " (" (n) ")" }
                    }
                }
            }
            @if !filter.mine() {
                div {
                    label for="f-claimed" { "Claimed by" }
                    select id="f-claimed" name="claimed_by" {
                        option value="" { "anyone or nobody" }
                        option value="nobody" selected[filter.claimed_by() == Some("nobody")] { "nobody yet" }
                        @for (who, n) in &q.claimants {
                            option value=(who) selected[filter.claimed_by() == Some(who.as_str())] { (who) " (" (n) ")" }
                        }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        @if q.items.is_empty() {
            p.muted { @if q.unfiltered == 0 { "No " (present::handoff_status(&q.status).to_lowercase()) " hand-offs." } @else { "None match these filters." } }
        } @else {
            table.queue {
                caption.sr { "Hand-offs, oldest first" }
                thead { tr {
                    th scope="col" { "Hand-off" } th scope="col" { "Age" } th scope="col" { "Reason" }
                    th scope="col" { "Channel" } th scope="col" { "Customer" } th scope="col" { "Claimed by" }
                    th scope="col" { "Customer's last message" }
                } }
                tbody {
                    @for item in &q.items {
                        @let h = &item.queued.handoff;
                        @let last = h.packet.last_customer_message().unwrap_or("");
                        @let cid = h.packet.identity.customer_id.as_deref();
                        tr data-handoff=(h.id) class=[item.overdue.then_some("overdue")] {
                            td {
                                a href={ "/admin/handoffs/" (h.id) } { (h.id) } br; span.muted { "opened " (when(p, &h.created_at)) }
                                @if item.repeats > 0 {
                                    br; span.repeats { "+" (item.repeats) @if item.same_customer { " more from this customer" } @else { " more with the same message" } }
                                }
                                @if let Some(first) = &item.repeat_of {
                                    br; span.muted { "repeats " a href={ "/admin/handoffs/" (first) } { (first) } }
                                }
                            }
                            td {
                                (age(item.age_mins, q.target_mins, item.overdue, item.queued.first_reply_at.is_some()))
                            }
                            td { (present::reason(&h.reason)) }
                            td { (present::channel(&item.queued.channel)) }
                            td {
                                @match cid {
                                    Some(id) => (customer_name(customers.get(id), id, mask)),
                                    None => span.muted { "not verified" },
                                }
                            }
                            td { @match &h.claimed_by { Some(c) => { (c) @if let Some(at) = &h.claimed_at { br; span.muted { (when(p, at)) } } }, None => span.muted { "nobody" } } }
                            td { (crate::privacy::for_log(last, mask)) }
                        }
                    }
                }
            }
        }
    }
}

/// A hand-off's age against the target, in words (never by colour alone).
fn age(mins: i64, target: i64, overdue: bool, replied: bool) -> Markup {
    html! {
        @if replied {
            "first reply after " (minutes_words(mins))
            @if mins > target { br; span.muted { "past the " (minutes_words(target)) " target" } }
        } @else if overdue {
            span.pill.overdue { "Overdue" } " " (minutes_words(mins))
            br; span.muted { (minutes_words(mins - target)) " past the target" }
        } @else {
            (minutes_words(mins))
            br; span.muted { (minutes_words(target - mins)) " left" }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    /// A saved reply to put into the reply box.
    pub reply: Option<i64>,
}

/// What the hand-off page shows besides the hand-off itself.
struct Context {
    turns: Vec<StoredTurn>,
    customer: Option<Customer>,
    saved: Vec<SavedReply>,
}

pub async fn show(
    desk: Desk,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Response {
    let chosen = query.ok().and_then(|Query(q)| q.reply);
    let store = app.config.store.name.clone();
    let found = blocking(move || -> Result<_, ApiError> {
        let h = desk::handoff(&app.assistant.journal, &id)?;
        let turns = app
            .assistant
            .journal
            .turns_since(&h.conversation_id, 0, None)?;
        let customer = match h.packet.identity.customer_id.as_deref() {
            Some(c) => app.assistant.orders.customer(c)?,
            None => None,
        };
        let saved = app
            .accounts
            .saved_replies()
            .map_err(super::replies::api_error)?;
        Ok((
            h,
            Context {
                turns,
                customer,
                saved,
            },
        ))
    })
    .await;
    let (h, cx) = match found {
        Ok(x) => x,
        Err(e) => return desk.error(e),
    };
    let body = render(&desk, &h, &cx, chosen, &store);
    page(&h.id, Some(&desk.viewer()), "/admin/handoffs", body).into_response()
}

fn render(
    desk: &Desk,
    h: &HandoffRecord,
    cx: &Context,
    chosen: Option<i64>,
    store: &str,
) -> Markup {
    let p = &h.packet;
    let pr = &desk.present;
    let csrf = &desk.csrf;
    let intent = &p.intent;
    let identity = &p.identity;
    let facts = Facts::from_packet(
        p,
        cx.customer.as_ref().map(|c| c.first_name.as_str()),
        &desk.staff.name,
        store,
    );
    let filled: Vec<(&SavedReply, Result<String, Vec<String>>)> = cx
        .saved
        .iter()
        .map(|r| (r, replies::fill(&r.body, &facts)))
        .collect();
    let draft = chosen
        .and_then(|id| filled.iter().find(|(r, _)| r.id == id))
        .and_then(|(_, f)| f.as_ref().ok().cloned())
        .unwrap_or_default();
    html! {
        h1 { "Hand-off " (h.id) }
        p {
            span class={ "pill " (h.status) } id="status" data-status=(h.status) { (h.status) }
            " "
            @match (&h.claimed_by, &h.resolved_by) {
                (_, Some(r)) => { "resolved by " (r) " " @if let Some(at) = &h.resolved_at { (when(pr, at)) } },
                (Some(c), None) => { "claimed by " (c) " " @if let Some(at) = &h.claimed_at { (when(pr, at)) } },
                _ => "waiting for someone to take it",
            }
            " · opened " (when(pr, &h.created_at))
        }
        p {
            @if h.status == "open" {
                (form(&format!("/admin/handoffs/{}/claim", h.id), csrf, "inline", html! { button type="submit" id="claim" { "Claim" } }))
            }
            @if h.status != "resolved" {
                " "
                (form(&format!("/admin/handoffs/{}/resolve", h.id), csrf, "inline", html! { button.quiet type="submit" id="resolve" { "Resolve" } }))
            }
        }
        div.columns {
            div.card {
                h2 { "Transcript" }
                // The person handling the case sees what the customer wrote (the address to ship to).
                (transcript(&cx.turns, false, pr))
                p.muted { a href={ "/admin/conversations/" (h.conversation_id) } { "Full conversation record" } }
                (form(&format!("/admin/handoffs/{}/reply", h.id), csrf, "", html! {
                    label for="message" { "Reply to the customer (signed " (desk.staff.name) ")" }
                    textarea id="message" name="message" required rows="6" { (draft) }
                    p { button type="submit" id="send" { "Send reply" } }
                }))
                h3 id="saved-replies" { "Saved replies" }
                @if filled.is_empty() {
                    p.muted { "No saved replies yet. " @if desk.staff.role == Role::Admin { a href="/admin/replies" { "Add one" } } @else { "Admins add them." } }
                } @else {
                    ul.saved aria-labelledby="saved-replies" {
                        @for (r, f) in &filled {
                            li data-reply=(r.id) {
                                @match f {
                                    Ok(text) => {
                                        a href={ "/admin/handoffs/" (h.id) "?reply=" (r.id) "#message" } { "Insert: " (r.title) }
                                        p.muted.preview { (text) }
                                    },
                                    Err(missing) => {
                                        span { (r.title) } " "
                                        span.muted { "needs " (missing.join(", ")) ": this hand-off has no verified order or customer" }
                                    },
                                }
                            }
                        }
                    }
                }
            }
            div.card {
                h2 { "Why it was handed off" }
                p { (present::reason(&h.reason)) " " span.muted { "(" (h.reason) ")" } }
                @if let Some(gate) = &p.gate {
                    details { summary { "The gate's scores" } (json_block(gate)) }
                }
                h2 { "What they want" }
                p {
                    (present::intent(&intent.intent))
                    " " span.muted { "confidence " (score(intent.confidence)) " · margin " (score(intent.margin)) }
                }
                h2 { "Customer" }
                p {
                    @match identity.customer_id.as_deref() {
                        Some(c) => {
                            (customer_name(cx.customer.as_ref(), c, false))
                            br; span.muted { "verified by " (present::verified_by(identity.verified_by.as_deref().unwrap_or("?"))) " · " (c) }
                        },
                        None => "not verified",
                    }
                }
                h2 { "Order" }
                (order_card(p.order.as_ref(), pr))
                h2 { "Passages found" }
                ul {
                    @for x in &p.passages {
                        li {
                            a href=(x.url.as_deref().unwrap_or("")) { (x.title) }
                            " " span.muted { (x.heading) " · bm25 " (score(x.bm25)) " · dense " (score(x.dense)) " · fused " (score(x.fused)) }
                        }
                    }
                }
                h2 { "Suggested draft" }
                blockquote id="draft" { (p.suggested_reply) }
            }
        }
    }
}

/// The verified order as a person reads it: status, dates, parcels with tracking links, items
/// and totals in the store's currency, the delivery address.
pub(super) fn order_card(order: Option<&Order>, pr: &Presenter) -> Markup {
    let Some(o) = order else {
        return html! { p.muted { "No order in focus." } };
    };
    html! {
        dl.order data-order=(o.number) {
            dt { "Order" } dd { strong { (o.number) } " · " (o.status.label()) }
            @if let Some(at) = o.created_at { dt { "Placed" } dd { (super::html::when_ts(pr, at)) } }
            @for f in &o.fulfilments {
                dt { "Parcel" }
                dd {
                    (f.carrier.as_deref().unwrap_or("Carrier")) " "
                    @match f.tracking_url.as_deref() {
                        Some(u) => a href=(u) { (f.tracking_number) },
                        None => (f.tracking_number),
                    }
                    @if let Some(at) = f.delivered_at { " · delivered " (super::html::when_ts(pr, at)) }
                    @else if let Some(d) = f.estimated_delivery { " · expected " (day(d)) }
                }
            }
            dt { "Items" }
            dd {
                ul.items {
                    @for i in &o.items {
                        li {
                            @if i.quantity > 1 { (i.quantity) " × " }
                            (i.name)
                            @if !i.options.is_empty() { " (" (i.options.values().cloned().collect::<Vec<_>>().join(" / ")) ")" }
                            " · " (pr.money(i.line_total_cents()))
                            @if i.final_sale { " · final sale" }
                        }
                    }
                }
            }
            dt { "Total" } dd { (pr.money(o.total_cents)) " " span.muted { "(shipping " (pr.money(o.shipping_cents)) ", tax " (pr.money(o.tax_cents)) ")" } }
            @if let Some(a) = &o.shipping_address { dt { "Ships to" } dd { (a.one_line()) } }
        }
        details { summary { "The order as recorded" } (json_block(o)) }
    }
}

/// A calendar day as "Sun 6 Dec 2026".
fn day(d: time::Date) -> String {
    d.format(time::macros::format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_else(|_| d.to_string())
}

/// A score to three places; "–" when there is none (a passage BM25 did not find).
fn score(v: impl Into<Option<f32>>) -> String {
    v.into().map_or_else(|| "–".into(), |x| format!("{x:.3}"))
}

fn back(id: &str) -> Response {
    Redirect::to(&format!("/admin/handoffs/{}", urlencode(id))).into_response()
}

/// Hand-off ids are `HO-` and hex, but a path segment is made safe anyway.
fn urlencode(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

pub async fn claim(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let (who, hid) = (posted.desk.staff.email.clone(), id.clone());
    match blocking(move || desk::claim(&app.assistant.journal, &hid, &who)).await {
        Ok(_) => back(&id),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn resolve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let (who, hid, overrule) = (
        posted.desk.staff.email.clone(),
        id.clone(),
        posted.desk.staff.role == Role::Admin,
    );
    match blocking(move || desk::resolve(&app.assistant.journal, &hid, &who, overrule)).await {
        Ok(_) => back(&id),
        Err(e) => posted.desk.error(e),
    }
}

#[derive(Deserialize)]
pub struct ReplyForm {
    pub message: String,
}

pub async fn reply(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<ReplyForm>,
) -> Response {
    let (name, hid, text) = (
        posted.desk.staff.name.clone(),
        id.clone(),
        posted.form.message.clone(),
    );
    let a = app.clone();
    let delivered = match blocking(move || {
        desk::reply(&a.assistant.journal, &a.live, &hid, Some(&name), &text)
    })
    .await
    {
        Ok(d) => d,
        Err(e) => return posted.desk.error(e),
    };
    // A conversation that came by email gets the reply by email, in its thread, as from the API.
    if let Some(email) = &app.email {
        if let Err(e) = email.send_agent_reply(&app.assistant, &delivered).await {
            return posted.desk.error(e);
        }
    }
    back(&id)
}
