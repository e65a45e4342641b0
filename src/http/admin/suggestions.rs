//! `GET /admin/suggestions[?status=]` (clusters of unanswered questions, the most asked first),
//! `GET /admin/suggestions/{id}` (its questions, the replies people sent, and the draft article
//! to edit), and an admin's forms `POST /admin/suggestions/{id}/approve` (title, body) and
//! `/dismiss`. JSON: `GET /v1/admin/suggestions[?status=]`, `GET /v1/admin/suggestions/{id}`,
//! `POST /v1/admin/suggestions/{id}/approve` `{title, body}` (201 with the article) and
//! `POST /v1/admin/suggestions/{id}/dismiss`. The work is `learn`'s.

use std::sync::Arc;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::{
    blocking,
    html::{form, page, when},
    session::{Desk, Empty, Posted},
};
use crate::http::error::ErrorBody;
use crate::{
    app::App,
    desk::accounts::{Role, Staff},
    http::{auth::Admin, ApiError},
    learn::{self, LearnError, Publish, Suggestion},
    privacy::for_log,
};

const STATUSES: [&str; 3] = ["open", "approved", "dismissed"];

impl From<LearnError> for ApiError {
    fn from(e: LearnError) -> Self {
        use crate::index::IndexError;
        let status = match &e {
            LearnError::NotFound(_) => StatusCode::NOT_FOUND,
            LearnError::Decided { .. }
            | LearnError::ArticleExists(_)
            | LearnError::Index(IndexError::DocumentExists(_) | IndexError::Locked(_)) => {
                StatusCode::CONFLICT
            }
            LearnError::BadTitle | LearnError::BadBody => StatusCode::UNPROCESSABLE_ENTITY,
            LearnError::Access(_) => StatusCode::FORBIDDEN,
            LearnError::Io { .. }
            | LearnError::Kb(_)
            | LearnError::Index(_)
            | LearnError::Journal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Suggestion ids are numbers; anything else names no suggestion (a 404 in the API's shape,
/// not the framework's plain-text rejection).
fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "suggestion_not_found",
            format!("no suggestion {id:?}"),
        )
    })
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Which suggestions (default `open`).
    #[param(pattern = "^(open|approved|dismissed)$")]
    pub status: Option<String>,
}

fn status_of(q: ListQuery) -> Result<String, ApiError> {
    let status = q.status.unwrap_or_else(|| "open".into());
    if !STATUSES.contains(&status.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_status",
            format!("status must be open, approved or dismissed, not {status:?}"),
        ));
    }
    Ok(status)
}

pub async fn list(desk: Desk, State(app): State<Arc<App>>, Query(q): Query<ListQuery>) -> Response {
    let status = match status_of(q) {
        Ok(s) => s,
        Err(e) => return desk.error(e),
    };
    let mask = app.config.privacy.mask_logs;
    let (wanted, worker) = (status.clone(), app.clone());
    let list = match blocking(move || {
        learn::suggestions(
            &worker.assistant.journal,
            &worker.config.learn,
            Some(&wanted),
        )
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return desk.error(e),
    };
    let body = html! {
        h1 { "Suggested articles" }
        p.muted { "Unanswered questions, grouped by meaning. Approving one writes an article into the knowledge base and answers the next customer from it." }
        nav.tabs aria-label="Suggestion status" {
            @for s in STATUSES {
                a href={ "/admin/suggestions?status=" (s) } aria-current=[(s == status).then_some("page")] { (s) }
            }
        }
        @if list.is_empty() {
            p.muted { "No " (status) " suggestions. Questions the assistant could not answer well are grouped here once one has been asked " (app.config.learn.min_questions) " times." }
        } @else {
            table {
                caption.sr { "Suggested articles, the most asked first" }
                thead { tr { th scope="col" { "Latest question" } th scope="col" { "Asked" } th scope="col" { "Replied by a person" } th scope="col" { "Last asked" } th scope="col" { "Article" } } }
                tbody {
                    @for c in &list {
                        tr data-suggestion=(c.id) {
                            td { a href={ "/admin/suggestions/" (c.id) } { (for_log(&c.latest_question, mask)) } }
                            td { (c.members) }
                            td { (c.replied) }
                            td { (when(&desk.present, &c.updated_at)) }
                            td { (c.article_path.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    page(
        "Suggestions",
        Some(&desk.viewer()),
        "/admin/suggestions",
        body,
    )
    .into_response()
}

pub async fn show(desk: Desk, State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return desk.error(e),
    };
    let mask = app.config.privacy.mask_logs;
    match blocking(move || learn::suggestion(&app.assistant.journal, id)).await {
        Ok(s) => {
            let body = render(&desk, &s, mask);
            page(
                &format!("Suggestion {id}"),
                Some(&desk.viewer()),
                "/admin/suggestions",
                body,
            )
            .into_response()
        }
        Err(e) => desk.error(e),
    }
}

fn render(desk: &Desk, s: &Suggestion, mask: bool) -> Markup {
    let c = &s.cluster;
    let p = &desk.present;
    html! {
        h1 { "Suggestion " (c.id) }
        @match c.status.as_str() {
            "approved" => p {
                span.pill.approved id="status" { "approved" } " by " (c.decided_by.as_deref().unwrap_or("")) " "
                @if let Some(at) = &c.decided_at { (when(p, at)) }
                ": " code id="article" { (c.article_path.as_deref().unwrap_or("")) }
                @if c.since_decision > 0 { " " span.muted { "(" (c.since_decision) " asked since: the article may need more)" } }
            },
            "dismissed" => p {
                span.pill id="status" { "dismissed" } " by " (c.decided_by.as_deref().unwrap_or("")) " "
                @if let Some(at) = &c.decided_at { (when(p, at)) }
            },
            _ => p { span.pill.open id="status" { "open" } },
        }
        p.muted { (c.members) " questions · first asked " (when(p, &c.created_at)) " · last " (when(p, &c.updated_at)) }
        @if c.status == "open" {
            @if desk.staff.role == Role::Admin {
                div.card {
                    h2 { "Draft article" }
                    (form(&format!("/admin/suggestions/{}/approve", c.id), &desk.csrf, "", html! {
                        label for="title" { "Title" }
                        input id="title" name="title" required maxlength=(learn::MAX_TITLE_CHARS) value=(s.draft.title);
                        label for="body" { "Article (Markdown). Write what is true for every customer: it is published as is." }
                        textarea id="body" name="body" required rows="12" placeholder="No one has replied to these questions yet: write the answer here." { (s.draft.body) }
                        p { button type="submit" id="approve" { "Approve and publish" } }
                    }))
                    (form(&format!("/admin/suggestions/{}/dismiss", c.id), &desk.csrf, "inline", html! {
                        button.quiet type="submit" id="dismiss" { "Dismiss: not for the knowledge base" }
                    }))
                }
            } @else {
                div.card {
                    h2 { "Draft article" }
                    p.muted { "An admin edits and approves articles." }
                    h3 id="draft-title" { (s.draft.title) }
                    blockquote id="draft" { (s.draft.body) }
                }
            }
        }
        div.card {
            h2 { "Questions, most typical first" }
            ol.questions {
                @for q in &s.questions {
                    li data-question=(q.id) {
                        p { (for_log(&q.question, mask)) }
                        p.muted {
                            (when(p, &q.at)) " · " (crate::desk::present::reason(&q.reason))
                            @if let Some(i) = &q.intent { " · " (crate::desk::present::intent(i)) }
                            " · " a href={ "/admin/conversations/" (q.conversation_id) } { "conversation" }
                        }
                        @match &q.reply {
                            Some(r) => blockquote.reply { (for_log(r, mask)) br; span.muted { "— " (q.replied_by.as_deref().unwrap_or("")) } },
                            None => p.muted { "No reply from a person yet." },
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ApproveForm {
    pub title: String,
    pub body: String,
}

fn publish_and_approve(
    app: &App,
    staff: &Staff,
    id: i64,
    title: &str,
    body: &str,
) -> Result<learn::Article, LearnError> {
    let retriever = &app.assistant.retriever;
    let publish = Publish {
        kb_dir: &app.config.kb_dir,
        index: retriever.index(),
        embedder: retriever.embedder().as_ref(),
    };
    learn::approve(&app.assistant.journal, &publish, staff, id, title, body)
}

pub async fn approve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<ApproveForm>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return posted.desk.error(e),
    };
    let (staff, form) = (posted.desk.staff.clone(), posted.form);
    match blocking(move || publish_and_approve(&app, &staff, id, &form.title, &form.body)).await {
        Ok(_) => Redirect::to(&format!("/admin/suggestions/{id}")).into_response(),
        Err(e) => posted.desk.error(e),
    }
}

pub async fn dismiss(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return posted.desk.error(e),
    };
    let staff = posted.desk.staff.clone();
    match blocking(move || learn::dismiss(&app.assistant.journal, &staff, id)).await {
        Ok(_) => Redirect::to(&format!("/admin/suggestions/{id}")).into_response(),
        Err(e) => posted.desk.error(e),
    }
}

/// A suggestion for the API, with personal data masked as in the pages (`privacy.mask_logs`).
fn suggestion_json(s: &Suggestion, mask: bool) -> Value {
    let questions: Vec<Value> = s
        .questions
        .iter()
        .map(|q| {
            json!({"id": q.id, "conversation_id": q.conversation_id, "at": q.at, "question": for_log(&q.question, mask), "reason": q.reason, "intent": q.intent,
                   "reply": q.reply.as_deref().map(|r| for_log(r, mask)), "replied_by": q.replied_by})
        })
        .collect();
    json!({"suggestion": s.cluster, "questions": questions, "draft": s.draft})
}

/// Questions the knowledge base could not answer, grouped.
#[utoipa::path(
    get,
    path = "/v1/admin/suggestions",
    operation_id = "admin_suggestions",
    tag = "desk",
    security(("admin" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "`{suggestions: [...]}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
        (status = 422, description = "`invalid_status` or `invalid_request` (the query string)", body = ErrorBody),
    )
)]
pub async fn api_list(
    _: Admin,
    State(app): State<Arc<App>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    // The API's error shape, like every other query string of the JSON API (not axum's text).
    let Query(q) = query.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            e.body_text(),
        )
    })?;
    let status = status_of(q)?;
    let mask = app.config.privacy.mask_logs;
    let list = blocking(move || {
        learn::suggestions(&app.assistant.journal, &app.config.learn, Some(&status))
    })
    .await?;
    let list: Vec<Value> = list
        .into_iter()
        .map(|c| {
            let mut v = serde_json::to_value(&c).unwrap_or_default();
            v["latest_question"] = json!(for_log(&c.latest_question, mask));
            v
        })
        .collect();
    Ok(Json(json!({ "suggestions": list })))
}

/// One suggestion: its questions, the replies people sent, the draft article.
#[utoipa::path(
    get,
    path = "/v1/admin/suggestions/{id}",
    operation_id = "admin_suggestion",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = "A suggestion's id (a number)")),
    responses(
        (status = 200, description = "`{suggestion, questions, draft}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled`", body = ErrorBody),
        (status = 404, description = "`suggestion_not_found`", body = ErrorBody),
    )
)]
pub async fn api_show(
    _: Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let mask = app.config.privacy.mask_logs;
    let s = blocking(move || learn::suggestion(&app.assistant.journal, id)).await?;
    Ok(Json(suggestion_json(&s, mask)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// 1–150 characters on one line (surrounding white space is dropped).
    #[schema(pattern = "^\\s*\\S([^\\r\\n]{0,148}\\S)?\\s*$")]
    pub title: String,
    /// The article's Markdown: 1–20,000 characters (surrounding white space is dropped).
    #[schema(pattern = "^\\s*\\S([\\s\\S]{0,19998}\\S)?\\s*$")]
    pub body: String,
}

/// Approve a suggestion's article (edited): written to kb/ and indexed at once (admins only).
#[utoipa::path(
    post,
    path = "/v1/admin/suggestions/{id}/approve",
    operation_id = "admin_approve_suggestion",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = "A suggestion's id (a number)")),
    request_body = ApproveBody,
    responses(
        (status = 201, description = "`{article}`", body = Object),
        (status = 400, description = "`malformed_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 404, description = "`suggestion_not_found`", body = ErrorBody),
        (status = 409, description = "`suggestion_decided`, `article_exists` or `index_busy`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_article` or `invalid_request` (the wrong shape)", body = ErrorBody),
    )
)]
pub async fn api_approve(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Json<ApproveBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let Json(b) = body?;
    let article =
        blocking(move || publish_and_approve(&app, &staff, id, &b.title, &b.body)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "article": article }))))
}

/// Dismiss a suggestion (admins only).
#[utoipa::path(
    post,
    path = "/v1/admin/suggestions/{id}/dismiss",
    operation_id = "admin_dismiss_suggestion",
    tag = "desk",
    security(("admin" = [])),
    params(("id" = String, Path, description = "A suggestion's id (a number)")),
    responses(
        (status = 200, description = "`{dismissed}`", body = Object),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`admin_disabled` or `forbidden` (agents)", body = ErrorBody),
        (status = 404, description = "`suggestion_not_found`", body = ErrorBody),
        (status = 409, description = "`suggestion_decided`", body = ErrorBody),
    )
)]
pub async fn api_dismiss(
    Admin(staff): Admin,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    blocking(move || learn::dismiss(&app.assistant.journal, &staff, id)).await?;
    Ok(Json(json!({ "dismissed": id })))
}
