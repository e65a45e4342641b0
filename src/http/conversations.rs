//! `GET /v1/conversations/{id}`: a chat widget's conversation read back (the transcript is shown
//! again after a page load), and `GET /v1/conversations/{id}/events`: server-sent events carrying
//! a person's replies as they are written; `POST /v1/conversations/{id}/feedback`: the
//! customer's thumbs up or down on the latest reply.
//!
//! Only conversations started by the widget are served, and only what the customer was shown
//! (replies, citations, order cards, hand-off references; never gate scores or understanding).
//! The id is the key: the widget lets the service choose it (a random UUID).

use std::{collections::VecDeque, convert::Infallible, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::sse::{Event, KeepAlive, Sse},
    Json,
};
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use utoipa::{IntoParams, ToSchema};

use super::{error::ErrorBody, ApiError};
use crate::{
    actions::awaits_confirmation,
    answer::{Citation, Handoff, OrderCard},
    app::App,
    assistant::valid_conversation_id,
    journal::{Conversation, StoredTurn},
};

/// What the customer saw of one turn.
#[derive(Serialize, ToSchema)]
#[schema(as = Turn)]
pub struct TurnView {
    pub id: i64,
    pub at: String,
    /// `customer`, `assistant` or `agent`.
    #[schema(pattern = "^(customer|assistant|agent)$")]
    pub role: String,
    pub text: String,
    /// The passages an assistant's reply quotes (on assistant turns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<Citation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderCard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// The agent's name, on a person's reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl From<&StoredTurn> for TurnView {
    fn from(t: &StoredTurn) -> Self {
        let d = &t.turn.detail;
        Self {
            id: t.id,
            at: t.at.clone(),
            role: t.turn.role.clone(),
            text: t.turn.text.clone(),
            citations: (t.turn.role == "assistant").then(|| d.citations.clone()),
            order: d.order.clone(),
            handoff: d.handoff.clone(),
            agent: d.agent.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = Conversation)]
pub struct ConversationView {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    /// Handed to a person: a person answers from here on.
    pub with_person: bool,
    /// The reference of the latest hand-off, when there is one.
    pub handoff_id: Option<String>,
    /// The last reply stated a change and waits for a yes or a no.
    pub awaiting_confirmation: bool,
    pub turns: Vec<TurnView>,
}

/// The widget's conversation, or the error a request for it gets.
fn widget_conversation(app: &App, id: &str) -> Result<Conversation, ApiError> {
    if !valid_conversation_id(id) {
        return Err(ApiError::bad_request(
            "invalid_conversation_id",
            "conversation ids are 1–64 letters, digits, '-' or '_'",
        ));
    }
    match app.assistant.journal.conversation(id)? {
        Some(c) if c.channel == "widget" => Ok(c),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "conversation_not_found",
            "no such widget conversation",
        )),
    }
}

/// The path parameter of the widget's conversation routes.
const ID: &str = "A conversation id the server issued (1–64 letters, digits, '-' or '_')";

/// A widget conversation's transcript, as the customer saw it.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}",
    operation_id = "conversation",
    tag = "widget",
    params(("id" = String, Path, description = ID, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses(
        (status = 200, description = "The transcript", body = ConversationView),
        (status = 400, description = "`invalid_conversation_id`: not 1–64 letters, digits, '-' or '_'", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`: no widget conversation has this id", body = ErrorBody),
    )
)]
pub async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, ApiError> {
    let c = widget_conversation(&app, &id)?;
    let turns = app.assistant.journal.turns_since(&id, 0, None)?;
    let handoff_id = turns
        .iter()
        .rev()
        .find_map(|t| t.turn.detail.handoff_ref().map(String::from));
    Ok(Json(ConversationView {
        id: c.id,
        created_at: c.created_at,
        updated_at: c.updated_at,
        with_person: c.state.handed_off,
        handoff_id,
        awaiting_confirmation: !c.state.handed_off && awaits_confirmation(c.state.flow.as_ref()),
        turns: turns.iter().map(TurnView::from).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Send the person's replies after this turn id (the last one the widget has shown).
    pub after: Option<i64>,
}

/// One open stream: the journal's backlog first, then live turns, never one twice.
struct Watch {
    app: Arc<App>,
    id: String,
    rx: Receiver<StoredTurn>,
    pending: VecDeque<StoredTurn>,
    last: i64,
}

/// A person's replies as server-sent events (`event: turn`, `id`: the turn id, `data`: a Turn),
/// the ones written since `after` (or `Last-Event-ID`) first.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}/events",
    operation_id = "conversation_events",
    tag = "widget",
    params(
        ("id" = String, Path, description = ID, pattern = "^[A-Za-z0-9_-]{1,64}$"),
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "A reconnecting EventSource's last turn id; wins over `after`"),
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_request` (the query string) or `invalid_conversation_id`", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`", body = ErrorBody),
        (status = 503, description = "`too_many_streams` (8 per conversation) or `overloaded` (`server.max_streams` in all)", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
pub async fn events(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    widget_conversation(&app, &id)?;
    // A reconnecting EventSource says where it got to; that wins over the page's own `after`.
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = last_event.or(q.after).unwrap_or(0).max(0);
    // Watch before reading the backlog, so a reply written in between arrives one way or the other.
    let rx = app.live.watch(&id).map_err(|refused| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            refused.code(),
            refused.to_string(),
        )
        .retry_after(5)
    })?;
    let backlog = app
        .assistant
        .journal
        .turns_since(&id, after, Some("agent"))?;
    let watch = Watch {
        app,
        id,
        rx,
        pending: backlog.into(),
        last: after,
    };
    // A first comment makes the response start at once, so the widget knows it is connected.
    let hello = stream::once(async { Ok::<_, Infallible>(Event::default().comment("watching")) });
    let turns = stream::unfold(watch, |mut w| async move {
        loop {
            if let Some(t) = w.pending.pop_front() {
                if t.id <= w.last || t.turn.role != "agent" {
                    continue;
                }
                w.last = t.id;
                let event = Event::default()
                    .event("turn")
                    .id(t.id.to_string())
                    .json_data(TurnView::from(&t))
                    .unwrap_or_else(|_| Event::default().comment("unserialisable turn"));
                return Some((Ok::<_, Infallible>(event), w));
            }
            match w.rx.recv().await {
                Ok(t) => w.pending.push_back(t),
                // Fell behind the channel's buffer: the journal has everything.
                Err(RecvError::Lagged(_)) => {
                    match w
                        .app
                        .assistant
                        .journal
                        .turns_since(&w.id, w.last, Some("agent"))
                    {
                        Ok(ts) => w.pending.extend(ts),
                        Err(e) => {
                            tracing::warn!(error = %e, "live stream: journal read failed; closing (the widget reconnects)");
                            return None;
                        }
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(hello.chain(turns)).keep_alive(KeepAlive::default()))
}

/// A customer's rating of the latest reply: `{"rating": "up" | "down"}`. Other fields are
/// ignored.
#[derive(Deserialize, ToSchema)]
pub struct FeedbackRequest {
    #[schema(pattern = "^(up|down)$")]
    pub rating: String,
}

/// `POST /v1/conversations/{id}/feedback`: thumbs up or down on the widget conversation's latest
/// reply (rating it again replaces the rating). 204; 422 `invalid_rating`; 409 `nothing_to_rate`
/// before the first reply.
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/feedback",
    operation_id = "conversation_feedback",
    tag = "widget",
    params(("id" = String, Path, description = ID, pattern = "^[A-Za-z0-9_-]{1,64}$")),
    request_body = FeedbackRequest,
    responses(
        (status = 204, description = "Rated (again: the new rating replaces the old)"),
        (status = 400, description = "`malformed_json` or `invalid_conversation_id`", body = ErrorBody),
        (status = 404, description = "`conversation_not_found`", body = ErrorBody),
        (status = 409, description = "`nothing_to_rate`: no reply yet", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_rating` or `invalid_request` (the wrong shape)", body = ErrorBody),
    )
)]
pub async fn feedback(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Json<FeedbackRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    if !matches!(req.rating.as_str(), "up" | "down") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rating",
            "rating is \"up\" or \"down\"",
        ));
    }
    widget_conversation(&app, &id)?;
    match app.assistant.journal.rate_latest_reply(&id, &req.rating)? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing_to_rate",
            "the conversation has no reply to rate yet",
        )),
    }
}
