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
    response::{Html, IntoResponse, Response},
    Json,
};
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
    actions::action_rows,
    blocking,
    html::{esc, page},
    session::Desk,
    transcript,
};
use crate::{
    app::App,
    desk::{self, ConversationRecord},
    http::{auth::Admin, error::ErrorBody, ApiError},
    journal::{
        ConversationFilter, ConversationPage, ConversationSummary, PageParams, MARK_END, MARK_START,
    },
    privacy::for_log,
};

fn filter_form(f: &ConversationFilter) -> String {
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or(""));
    let select = |name: &str, current: &Option<String>, options: &[&str]| {
        let opts: String = std::iter::once("")
            .chain(options.iter().copied())
            .map(|o| {
                format!(
                    "<option value=\"{o}\"{}>{}</option>",
                    if current.as_deref().unwrap_or("") == o {
                        " selected"
                    } else {
                        ""
                    },
                    if o.is_empty() { "any" } else { o }
                )
            })
            .collect();
        format!("<div><label for=\"{name}\">{name}</label><select id=\"{name}\" name=\"{name}\">{opts}</select></div>")
    };
    format!(
        "<form method=\"get\" action=\"/admin/conversations\" class=\"filters\">\
         <div><label for=\"q\">Search the turns</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{}\"></div>\
         {}{}<div><label for=\"intent\">intent</label><input id=\"intent\" name=\"intent\" value=\"{}\" size=\"14\"></div>\
         <div><label for=\"from\">from</label><input id=\"from\" name=\"from\" type=\"date\" value=\"{}\"></div>\
         <div><label for=\"to\">to</label><input id=\"to\" name=\"to\" type=\"date\" value=\"{}\"></div>\
         <div><button type=\"submit\">Filter</button></div></form>",
        v(&f.q),
        select("channel", &f.channel, &["widget", "api", "email", "cli"]),
        select("outcome", &f.outcome, &["answered", "unresolved", "handoff"]),
        v(&f.intent),
        v(&f.from),
        v(&f.to),
    )
}

fn list_html(list: &[ConversationSummary], mask: bool) -> String {
    if list.is_empty() {
        return "<p class=\"muted\">No conversations match.</p>".into();
    }
    let searched = list.iter().any(|c| c.snippet.is_some());
    let rows: String = list
        .iter()
        .map(|c| {
            let matched = if searched { format!("<td class=\"match\">{}</td>", c.snippet.as_deref().map(|s| snippet_html(s, mask)).unwrap_or_default()) } else { String::new() };
            format!(
                "<tr><td><a href=\"/admin/conversations/{id}\">{short}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{matched}</tr>",
                esc(&c.created_at),
                esc(&c.updated_at),
                esc(&c.channel),
                esc(c.intent.as_deref().unwrap_or("")),
                esc(c.outcome.as_deref().unwrap_or("")),
                c.turns,
                esc(&for_log(c.first_message.as_deref().unwrap_or(""), mask)),
                id = esc(&c.id),
                short = esc(&c.id.chars().take(13).collect::<String>()),
            )
        })
        .collect();
    let match_head = if searched { "<th>Match</th>" } else { "" };
    format!("<table><thead><tr><th>Conversation</th><th>Started</th><th>Last active</th><th>Channel</th><th>Intent</th><th>Outcome</th><th>Turns</th><th>First message</th>{match_head}</tr></thead><tbody>{rows}</tbody></table>")
}

/// A search snippet as markup: the text escaped, then the journal's match markers turned into
/// `<mark>`. Markers are only honoured in order (a stray one a customer typed cannot leave a tag
/// open or close one that is not). With masking on, a snippet that holds personal data is shown
/// masked and without highlights, since masking text cut by markers could miss some of it.
fn snippet_html(snippet: &str, mask: bool) -> String {
    if mask {
        let plain: String = snippet
            .chars()
            .filter(|c| *c != MARK_START && *c != MARK_END)
            .collect();
        let masked = for_log(&plain, true);
        if masked != plain {
            return esc(&masked);
        }
    }
    let mut out = String::new();
    let mut open = false;
    for part in esc(snippet).split_inclusive([MARK_START, MARK_END]) {
        let (text, marker) = match part.chars().last() {
            Some(m) if m == MARK_START || m == MARK_END => {
                (&part[..part.len() - m.len_utf8()], Some(m))
            }
            _ => (part, None),
        };
        out.push_str(text);
        match marker {
            Some(m) if m == MARK_START && !open => {
                out.push_str("<mark>");
                open = true;
            }
            Some(m) if m == MARK_END && open => {
                out.push_str("</mark>");
                open = false;
            }
            _ => {}
        }
    }
    if open {
        out.push_str("</mark>");
    }
    out
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

fn pager(f: &ConversationFilter, p: &ConversationPage, asked_limit: Option<usize>) -> String {
    let newer = p
        .prev_cursor
        .as_deref()
        .map(|c| {
            format!(
                "<a rel=\"prev\" href=\"{}\">← Newer</a>",
                esc(&list_url(f, &[("newer", c)], asked_limit))
            )
        })
        .unwrap_or_default();
    let older = p
        .next_cursor
        .as_deref()
        .map(|c| {
            format!(
                "<a rel=\"next\" href=\"{}\">Older →</a>",
                esc(&list_url(f, &[("cursor", c)], asked_limit))
            )
        })
        .unwrap_or_default();
    let newest = if p.prev_cursor.is_some() {
        format!(
            "<a href=\"{}\">Newest</a>",
            esc(&list_url(f, &[], asked_limit))
        )
    } else {
        String::new()
    };
    format!("<nav class=\"pager\">{newest} {newer} {older}</nav>")
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
            let body = format!(
                "<h1>Conversations</h1>{}<p class=\"muted\">Newest first, {} a page.</p>{}{}",
                filter_form(&f),
                p.limit,
                list_html(&p.conversations, app.config.privacy.mask_logs),
                pager(&f, &p, asked_limit),
            );
            Html(page(
                "Conversations",
                Some(&desk.viewer()),
                "/admin/conversations",
                &body,
            ))
            .into_response()
        }
        Err(e) => desk.error(e),
    }
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let mask = app.config.privacy.mask_logs;
    let record = match blocking(move || {
        desk::conversation(&app.assistant.journal, app.assistant.orders.as_ref(), &id)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return desk.error(e),
    };
    let body = render(&desk, &record, mask);
    Html(page(
        "Conversation",
        Some(&desk.viewer()),
        "/admin/conversations",
        &body,
    ))
    .into_response()
}

fn render(desk: &Desk, r: &ConversationRecord, mask: bool) -> String {
    let c = &r.conversation;
    let handoffs: String = r
        .handoffs
        .iter()
        .map(|h| format!("<li><a href=\"/admin/handoffs/{id}\">{id}</a> {} <span class=\"pill {s}\">{s}</span></li>", esc(&h.reason), id = esc(&h.id), s = esc(&h.status)))
        .collect();
    let actions = if r.actions.is_empty() {
        "<p class=\"muted\">No actions.</p>".to_string()
    } else {
        action_rows(desk, &r.actions)
    };
    format!(
        "<h1>Conversation {}</h1><p class=\"muted\">{} · started {} · last active {} · customer {}</p>\
         <div class=\"card\"><h2>Transcript</h2>{}</div>\
         <h2>Hand-offs</h2><ul>{handoffs}</ul><h2>Actions</h2>{actions}",
        esc(&c.id),
        esc(&c.channel),
        esc(&c.created_at),
        esc(&c.updated_at),
        esc(c.state.customer_id.as_deref().unwrap_or("not verified")),
        transcript(&r.turns, mask),
    )
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
