//! `GET /admin/conversations` (filter by channel, intent, outcome and dates; full-text search of
//! the turns with the match shown; paged newest first, the filters riding along on the Older and
//! Newer links) and `GET /admin/conversations/{id}` (transcript, citations, gate decisions with
//! their scores, hand-offs, actions with before and after). The same as JSON: `GET
//! /v1/admin/conversations[?…&cursor=&newer=&limit=]` (with `next_cursor`, `prev_cursor`) and
//! `GET /v1/admin/conversations/{id}`.

use std::sync::Arc;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{
    openapi::{
        schema::SchemaType, KnownFormat, ObjectBuilder, OneOfBuilder, RefOr, Schema, SchemaFormat,
        Type,
    },
    IntoParams,
};

use super::{
    actions::{action_rows, customers_of},
    blocking,
    handoffs::customer_name,
    html::{page, when},
    session::Desk,
    transcript,
};
use crate::{
    app::App,
    desk::{self, present, ConversationRecord},
    http::{auth::Admin, error::ErrorBody, ApiError},
    journal::{
        ConversationFilter, ConversationPage, ConversationSummary, PageParams, MARK_END, MARK_START,
    },
    privacy::for_log,
};

fn filter_form(f: &ConversationFilter) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let select = |name: &str,
                  label: &str,
                  current: &Option<String>,
                  options: &[&str],
                  words: fn(&str) -> String| {
        html! {
            div {
                label for=(name) { (label) }
                select id=(name) name=(name) {
                    option value="" selected[current.as_deref().unwrap_or("").is_empty()] { "any" }
                    @for o in options {
                        option value=(o) selected[current.as_deref() == Some(*o)] { (words(o)) }
                    }
                }
            }
        }
    };
    html! {
        form.filters method="get" action="/admin/conversations" {
            div { label for="q" { "Search the turns" } input id="q" name="q" type="search" value=(v(&f.q)); }
            (select("channel", "Channel", &f.channel, &["widget", "api", "email", "cli"], present::channel))
            (select("outcome", "Outcome", &f.outcome, &["answered", "unresolved", "handoff"], present::outcome))
            div { label for="intent" { "Intent (code)" } input id="intent" name="intent" value=(v(&f.intent)) size="14"; }
            div { label for="from" { "From" } input id="from" name="from" type="date" value=(v(&f.from)); }
            div { label for="to" { "To" } input id="to" name="to" type="date" value=(v(&f.to)); }
            div { button type="submit" { "Filter" } }
        }
    }
}

fn list_html(list: &[ConversationSummary], mask: bool, p: &present::Presenter) -> Markup {
    let searched = list.iter().any(|c| c.snippet.is_some());
    html! {
        @if list.is_empty() {
            p.muted { "No conversations match." }
        } @else {
            table {
                caption.sr { "Conversations, newest first" }
                thead { tr {
                    th scope="col" { "Conversation" } th scope="col" { "Started" } th scope="col" { "Last active" }
                    th scope="col" { "Channel" } th scope="col" { "Intent" } th scope="col" { "Outcome" }
                    th scope="col" { "Turns" } th scope="col" { "First message" }
                    @if searched { th scope="col" { "Match" } }
                } }
                tbody {
                    @for c in list {
                        tr {
                            td { a href={ "/admin/conversations/" (c.id) } { (c.id.chars().take(13).collect::<String>()) } }
                            td { (when(p, &c.created_at)) }
                            td { (when(p, &c.updated_at)) }
                            td { (present::channel(&c.channel)) }
                            td { @if let Some(i) = &c.intent { span title=(i) { (present::intent(i)) } } }
                            td { @if let Some(o) = &c.outcome { (present::outcome(o)) } }
                            td { (c.turns) }
                            td { (for_log(c.first_message.as_deref().unwrap_or(""), mask)) }
                            @if searched { td.match { @if let Some(s) = &c.snippet { (snippet_markup(s, mask)) } } }
                        }
                    }
                }
            }
        }
    }
}

/// A search snippet as markup: the text escaped, then the journal's match markers turned into
/// `<mark>`. Markers are only honoured in order (a stray one a customer typed cannot leave a tag
/// open or close one that is not). With masking on, a snippet that holds personal data is shown
/// masked and without highlights, since masking text cut by markers could miss some of it.
fn snippet_markup(snippet: &str, mask: bool) -> Markup {
    if mask {
        let plain: String = snippet
            .chars()
            .filter(|c| *c != MARK_START && *c != MARK_END)
            .collect();
        let masked = for_log(&plain, true);
        if masked != plain {
            return html! { (masked) };
        }
    }
    // (highlighted, text) pieces, in order.
    let mut pieces: Vec<(bool, String)> = vec![(false, String::new())];
    let mut open = false;
    for c in snippet.chars() {
        match c {
            MARK_START if !open => {
                open = true;
                pieces.push((true, String::new()));
            }
            MARK_END if open => {
                open = false;
                pieces.push((false, String::new()));
            }
            MARK_START | MARK_END => {}
            c => pieces.last_mut().expect("one piece at least").1.push(c),
        }
    }
    html! {
        @for (marked, text) in pieces.iter().filter(|(m, t)| *m || !t.is_empty()) {
            @if *marked { mark { (text) } } @else { (text) }
        }
    }
}

/// The same as a string, for the JSON API's `snippet_html`.
fn snippet_html(snippet: &str, mask: bool) -> String {
    snippet_markup(snippet, mask).into_string()
}

/// `/admin/conversations?…` with the filters and `extra` (a page's cursor), for the paging links.
fn list_url(f: &ConversationFilter, extra: &[(&str, &str)], limit: Option<usize>) -> String {
    let limit = limit.map(|l| l.to_string());
    let pairs = [
        ("q", &f.q),
        ("channel", &f.channel),
        ("outcome", &f.outcome),
        ("intent", &f.intent),
        ("from", &f.from),
        ("to", &f.to),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
    .chain(limit.as_deref().map(|l| ("limit", l)))
    .chain(extra.iter().copied());
    let query: Vec<String> = pairs
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    format!("/admin/conversations?{}", query.join("&"))
}

/// Percent-encodes all but the unreserved characters (RFC 3986).
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn pager(f: &ConversationFilter, p: &ConversationPage, asked_limit: Option<usize>) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if p.prev_cursor.is_some() { a href=(list_url(f, &[], asked_limit)) { "Newest" } " " }
            @if let Some(c) = p.prev_cursor.as_deref() { a rel="prev" href=(list_url(f, &[("newer", c)], asked_limit)) { "← Newer" } " " }
            @if let Some(c) = p.next_cursor.as_deref() { a rel="next" href=(list_url(f, &[("cursor", c)], asked_limit)) { "Older →" } }
        }
    }
}

fn valid_day(d: &Option<String>) -> bool {
    d.as_deref().is_none_or(|d| {
        d.is_empty()
            || time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                .is_ok()
    })
}

fn check(f: &ConversationFilter) -> Result<(), ApiError> {
    if !(valid_day(&f.from) && valid_day(&f.to)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_date",
            "dates are YYYY-MM-DD",
        ));
    }
    // An outcome no conversation can have is a mistake, not an empty page.
    if let Some(o) = f
        .outcome
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        if !["answered", "unresolved", "handoff"].contains(&o) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("outcome must be answered, unresolved or handoff, not {o:?}"),
            ));
        }
    }
    Ok(())
}

pub async fn list(
    desk: Desk,
    State(app): State<Arc<App>>,
    query: Result<Query<ConversationFilter>, QueryRejection>,
    paging: Result<Query<PageParams>, QueryRejection>,
) -> Response {
    let f = query.map(|Query(f)| f).unwrap_or_default();
    if let Err(e) = check(&f) {
        return desk.error(e);
    }
    let paging = match paging {
        Ok(Query(p)) => p,
        Err(e) => {
            return desk.error(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                e.body_text(),
            ))
        }
    };
    let asked_limit = paging.limit;
    let filter = f.clone();
    let journal = app.assistant.journal.clone();
    match blocking(move || journal.conversations_page(&filter, &paging)).await {
        Ok(p) => {
            let body = html! {
                h1 { "Conversations" }
                (filter_form(&f))
                p.muted { "Newest first, " (p.limit) " a page. Times are the store's (" (desk.present.timezone_name()) ")." }
                (list_html(&p.conversations, app.config.privacy.mask_logs, &desk.present))
                (pager(&f, &p, asked_limit))
            };
            page(
                "Conversations",
                Some(&desk.viewer()),
                "/admin/conversations",
                body,
            )
            .into_response()
        }
        Err(e) => desk.error(e),
    }
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let mask = app.config.privacy.mask_logs;
    let found = blocking(move || -> Result<_, ApiError> {
        let record =
            desk::conversation(&app.assistant.journal, app.assistant.orders.as_ref(), &id)?;
        let mut customers = customers_of(&app, &record.actions)?;
        if let Some(c) = record.conversation.state.customer_id.as_deref() {
            if let Some(found) = app.assistant.orders.customer(c)? {
                customers.insert(c.to_string(), found);
            }
        }
        Ok((record, customers))
    })
    .await;
    let (record, customers) = match found {
        Ok(r) => r,
        Err(e) => return desk.error(e),
    };
    let body = render(&desk, &record, &customers, mask);
    page(
        "Conversation",
        Some(&desk.viewer()),
        "/admin/conversations",
        body,
    )
    .into_response()
}

fn render(
    desk: &Desk,
    r: &ConversationRecord,
    customers: &std::collections::HashMap<String, crate::orders::Customer>,
    mask: bool,
) -> Markup {
    let c = &r.conversation;
    let p = &desk.present;
    html! {
        h1 { "Conversation " (c.id) }
        p.muted {
            (present::channel(&c.channel)) " · started " (when(p, &c.created_at)) " · last active " (when(p, &c.updated_at)) " · customer "
            @match c.state.customer_id.as_deref() {
                Some(id) => (customer_name(customers.get(id), id, mask)),
                None => "not verified",
            }
        }
        div.card { h2 { "Transcript" } (transcript(&r.turns, mask, p)) }
        h2 { "Hand-offs" }
        @if r.handoffs.is_empty() { p.muted { "None." } }
        @else {
            ul {
                @for h in &r.handoffs {
                    li {
                        a href={ "/admin/handoffs/" (h.id) } { (h.id) } " " (present::reason(&h.reason)) " "
                        span class={ "pill " (h.status) } { (h.status) } " · opened " (when(p, &h.created_at))
                    }
                }
            }
        }
        h2 { "Actions" }
        @if r.actions.is_empty() { p.muted { "No actions." } }
        @else { (action_rows(desk, &r.actions, customers, mask)) }
    }
}

/// The query string of `GET /v1/admin/conversations`: the filters and the page.
#[derive(Deserialize, IntoParams, Default)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    channel: Option<String>,
    /// Any customer turn with this intent.
    intent: Option<String>,
    /// The latest exchange's outcome; empty is the same as absent.
    #[param(pattern = "^\\s*(answered|unresolved|handoff)?\\s*$")]
    outcome: Option<String>,
    /// Started on or after this day (`YYYY-MM-DD`); empty is the same as absent.
    #[param(schema_with = day_or_empty)]
    from: Option<String>,
    /// Started on or before this day (`YYYY-MM-DD`); empty is the same as absent.
    #[param(schema_with = day_or_empty)]
    to: Option<String>,
    /// Full-text search of every turn: all the words in one turn, ignoring case and accents,
    /// the last word also as a prefix unless followed by a space; never FTS5 syntax.
    q: Option<String>,
    /// Per page, taken as 1 to 200 (0 is 1; more is 200); default 50.
    #[param(minimum = 0)]
    limit: Option<i64>,
    /// A `next_cursor`: the page after it (older). Empty is the same as absent; followed when
    /// `newer` is given too. (The pattern is what a cursor is: hex of a stored time, a newline
    /// and the id.)
    #[param(
        pattern = "^(3[0-9]){4}2d(3[0-9]){2}2d(3[0-9]){2}54(3[0-9]){2}3a(3[0-9]){2}3a(3[0-9]){2}2e(3[0-9]){6}5a0a([2-7][0-9a-f])+$|^$"
    )]
    cursor: Option<String>,
    /// A `prev_cursor`: the page before it (newer). Empty is the same as absent.
    #[param(
        pattern = "^(3[0-9]){4}2d(3[0-9]){2}2d(3[0-9]){2}54(3[0-9]){2}3a(3[0-9]){2}3a(3[0-9]){2}2e(3[0-9]){6}5a0a([2-7][0-9a-f])+$|^$"
    )]
    newer: Option<String>,
}

/// A day (`YYYY-MM-DD`) or nothing (a form's blank field).
fn day_or_empty() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .max_length(Some(0)),
        )
        .into()
}

impl ListParams {
    fn split(self) -> Result<(ConversationFilter, PageParams), ApiError> {
        let limit = match self.limit {
            Some(l) if l < 0 => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    "limit must not be negative",
                ))
            }
            l => l.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        };
        Ok((
            ConversationFilter {
                channel: self.channel,
                intent: self.intent,
                outcome: self.outcome,
                from: self.from,
                to: self.to,
                q: self.q,
            },
            PageParams {
                cursor: self.cursor,
                newer: self.newer,
                limit,
            },
        ))
    }
}

/// Every conversation, newest first, a page at a time, filtered and searched.
#[utoipa::path(
    get,
    path = "/v1/admin/conversations",
    operation_id = "admin_conversations",
    tag = "desk",
    security(("admin" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "`{conversations: [{id, channel, created_at, updated_at, outcome, first_message, snippet_html…}], next_cursor, prev_cursor, limit}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
        (status = 422, description = "`invalid_date`, `invalid_cursor` or `invalid_request` (the outcome, or the query string)", body = ErrorBody),
    )
)]
pub async fn api_list(
    _: Admin,
    State(app): State<Arc<App>>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = query.map_err(|e: QueryRejection| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            e.body_text(),
        )
    })?;
    let (f, paging) = params.split()?;
    check(&f)?;
    let mask = app.config.privacy.mask_logs;
    let p = blocking(move || app.assistant.journal.conversations_page(&f, &paging)).await?;
    let conversations: Vec<Value> = p
        .conversations
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["first_message"] = json!(c.first_message.as_deref().map(|m| for_log(m, mask)));
            v["snippet_html"] = json!(c.snippet.as_deref().map(|s| snippet_html(s, mask)));
            v
        })
        .collect();
    Ok(Json(
        json!({ "conversations": conversations, "next_cursor": p.next_cursor, "prev_cursor": p.prev_cursor, "limit": p.limit }),
    ))
}

/// Everything recorded about one conversation: turns with their detail, hand-offs, actions.
#[utoipa::path(
    get,
    path = "/v1/admin/conversations/{id}",
    operation_id = "admin_conversation",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = "A conversation id")),
    responses(
        (status = 200, description = "`{conversation, turns, handoffs, actions}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`", body = ErrorBody),
    )
)]
pub async fn api_show(
    _: Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ConversationRecord>, ApiError> {
    Ok(Json(
        blocking(move || {
            desk::conversation(&app.assistant.journal, app.assistant.orders.as_ref(), &id)
        })
        .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_escaped_and_only_the_markers_become_marks() {
        let s = format!("<b>{MARK_START}refund{MARK_END}</b> & more");
        assert_eq!(
            snippet_html(&s, false),
            "&lt;b&gt;<mark>refund</mark>&lt;/b&gt; &amp; more"
        );
        // Stray markers (typed by a customer) never leave a tag unbalanced.
        assert_eq!(
            snippet_html(&format!("{MARK_END}a{MARK_START}b{MARK_START}c"), false),
            "a<mark>bc</mark>"
        );
        assert_eq!(
            snippet_html(
                &format!("write to {MARK_START}maya{MARK_END}.chen@example.com"),
                true
            ),
            "write to m***@example.com"
        );
    }

    #[test]
    fn paging_links_carry_the_filters() {
        let f = ConversationFilter {
            q: Some("a&b c".into()),
            channel: Some("widget".into()),
            ..Default::default()
        };
        assert_eq!(
            list_url(&f, &[("cursor", "ab12")], Some(20)),
            "/admin/conversations?q=a%26b%20c&channel=widget&limit=20&cursor=ab12"
        );
    }
}
