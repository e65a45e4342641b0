//! Step: guided actions. Returns, exchanges, cancellations, changes to an unshipped order
//! (items, address, payment method) and the default address, carried out on the customer's
//! say-so, within the store's policy, across turns:
//!
//! ```text
//! message ── read::read (wishes, against the customer's own orders and the catalogue)
//!         ── plan::plan_all (policy checks, variant matching) ──► plans · questions · refusals
//!         ── reply: ask for what is missing │ refuse with the reason (hand off where a person
//!            could make an exception) │ state exactly what will happen and ask for a yes
//! "yes"   ── plan::execute (one transaction each, idempotent, action-logged) ──► references
//! ```
//!
//! - [`policy`]: the policy as configuration (two built-in profiles).
//! - [`read`]: what the customer asks for; [`variant`]: which variant their words describe.
//! - [`plan`]: plans, execution, the action log entries and an admin's [`plan::revert`].
//! - [`Flow`]: the state kept between turns (in the conversation's `flow`).
//!
//! Identity is checked before this step runs (the assistant verifies, per the policy's
//! methods); this step only ever sees the verified customer's id and only finds their orders.
//! It does not compose policy answers from the help centre, and does not talk to carriers or
//! payment providers: refunds and charges are recorded on the order for them. Where the store's
//! orders live on a platform ([`Guide::with_platform`]), the platform carries the confirmed
//! change out and refunds ([`plan::execute_via`], [`crate::platform::settle`]); the action log
//! stays here.

pub mod plan;
pub mod policy;
pub mod read;
mod text;
pub mod variant;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

pub use plan::{execute, execute_via, revert, Action, Done, Plan, Step};
pub use policy::{Policy, PolicyError, Refusal};

use crate::money::Currency;
use crate::orders::{OrderError, OrderStore};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Orders(#[from] OrderError),
    #[error("{0} not found")]
    NotFound(String),
    /// Not allowed (any more): the reason is for the customer.
    #[error("{0}")]
    Refused(String),
    /// The store's platform refused the change or could not be reached; nothing was changed.
    #[error(transparent)]
    Platform(#[from] crate::platform::PlatformError),
    /// A logged action's stored record does not decode (written by another version, or
    /// damaged): nothing is done with it rather than something half-right.
    #[error("action {id}'s stored record cannot be read ({message}); nothing was changed")]
    UnreadableRecord { id: String, message: String },
}

impl ActionError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Orders(_) => "actions.storage",
            Self::NotFound(_) => "actions.not_found",
            Self::Refused(_) => "actions.refused",
            Self::Platform(e) => e.code(),
            Self::UnreadableRecord { .. } => "actions.unreadable_record",
        }
    }
}

/// Where a guided action stands between turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the customer to say who they are.
    Identity,
    /// Waiting for a missing detail (which item, which order, what instead).
    Details,
    /// The plans were stated; waiting for a yes or a no.
    Confirm,
    /// Carried out; a repeated "yes" is answered from here.
    Done,
}

/// The state of a guided action, kept in the conversation between turns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub stage: Stage,
    /// What the customer has said about this request so far (re-read with each detail).
    pub request: String,
    #[serde(default)]
    pub plans: Vec<Plan>,
    /// References of what was carried out.
    #[serde(default)]
    pub done: Vec<String>,
}

impl Flow {
    /// A request waiting for the customer to say who they are.
    pub fn awaiting_identity(request: &str) -> Self {
        Self {
            stage: Stage::Identity,
            request: request.to_string(),
            plans: Vec::new(),
            done: Vec::new(),
        }
    }
}

/// Whether a conversation's stored flow (`ConversationState::flow`) has stated its plans and
/// waits for a yes or a no: the channels offer confirm buttons then.
pub fn awaits_confirmation(flow: Option<&serde_json::Value>) -> bool {
    flow.and_then(|v| v.get("stage")).and_then(|s| s.as_str()) == Some("confirm")
}

/// What one turn of a guided action says and does.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    pub text: String,
    /// The flow to keep (`None`: nothing pending).
    pub flow: Option<Flow>,
    /// What was proposed, executed or refused, for the answer's `actions`.
    pub actions: Vec<serde_json::Value>,
    /// A person should take over (an exception only they can make): the detail for them.
    pub handoff: Option<String>,
    /// The order the turn was about, when there is one.
    pub order: Option<String>,
}

/// Whether a reply confirms.
pub fn is_yes(message: &str) -> bool {
    let m = message.trim().to_lowercase();
    let words: Vec<&str> = m
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty()
        || words.len() > 8
        || words.iter().any(|w| {
            matches!(
                *w,
                "but" | "instead" | "actually" | "wait" | "not" | "don't" | "no"
            )
        })
    {
        return false;
    }
    let first = words[0];
    matches!(
        first,
        "yes"
            | "y"
            | "yeah"
            | "yep"
            | "yup"
            | "sure"
            | "ok"
            | "okay"
            | "confirm"
            | "confirmed"
            | "correct"
            | "proceed"
            | "absolutely"
            | "definitely"
    ) || m.starts_with("go ahead")
        || m.starts_with("please do")
        || m.starts_with("do it")
        || m.starts_with("please go ahead")
        || m.starts_with("sounds good")
        || m.starts_with("that's right")
        || m.starts_with("please proceed")
}

/// Whether a reply declines.
pub fn is_no(message: &str) -> bool {
    let m = message.trim().to_lowercase();
    let words: Vec<&str> = m
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.len() > 10 {
        return false;
    }
    matches!(
        words[0],
        "no" | "nope" | "nah" | "stop" | "cancel" | "don't" | "dont"
    ) || m.starts_with("never mind")
        || m.starts_with("nevermind")
        || m.starts_with("not now")
        || m.starts_with("do not")
        || m.starts_with("i changed my mind")
        || m.starts_with("i've changed my mind")
}

/// The guided-actions step, with the store's policy.
#[derive(Debug, Clone)]
pub struct Guide {
    pub policy: Policy,
    /// The store's currency: what amounts in the guide's words are written in.
    pub currency: Currency,
    /// Where confirmed changes are carried out when orders live on a store platform (see
    /// [`crate::platform`]); `None`: in the order store itself.
    pub platform: Option<std::sync::Arc<dyn crate::platform::Platform>>,
}

impl Guide {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            currency: Currency::default(),
            platform: None,
        }
    }

    /// Amounts in plans, refusals and confirmations written in `currency` (US dollars unless
    /// told).
    pub fn with_currency(mut self, currency: Currency) -> Self {
        self.currency = currency;
        self
    }

    /// Carries confirmed changes out on `platform` (an embedded one changes nothing).
    pub fn with_platform(
        mut self,
        platform: std::sync::Arc<dyn crate::platform::Platform>,
    ) -> Self {
        self.platform = Some(platform).filter(|p| !p.is_embedded());
        self
    }

    /// What to say when a request needs the customer's identity first.
    pub fn ask_identity(&self) -> String {
        use policy::IdentityMethod as M;
        let mut ways = Vec::new();
        if self.policy.allows_identity(M::OrderPostcode) {
            ways.push(
                "your order number and the email address (or shipping postcode) used at checkout",
            );
        } else if self.policy.allows_identity(M::OrderEmail) {
            ways.push("your order number and the email address used at checkout");
        }
        if self.policy.allows_identity(M::Email) {
            ways.push("the email address on your account");
        }
        if self.policy.allows_identity(M::NamePostcode) {
            ways.push("your first and last name and ZIP code");
        }
        format!(
            "I can help with that. First I need to confirm who you are: please send {}.",
            ways.join(", or ")
        )
    }

    /// One turn for the verified customer: continues `flow` or starts from `message`. `None`
    /// when the message asks for no action and no flow is waiting (the caller answers it).
    pub fn turn(
        &self,
        store: &dyn OrderStore,
        customer_id: &str,
        conversation_id: &str,
        message: &str,
        flow: Option<Flow>,
        now: OffsetDateTime,
    ) -> Result<Option<Turn>, ActionError> {
        match flow {
            Some(f) if f.stage == Stage::Confirm => {
                // "Only the first", "yes to the return but not the exchange": one by one.
                if let Some(chosen) = selection(message, &f.plans) {
                    let declined: Vec<serde_json::Value> = f.plans.iter().enumerate().filter(|(i, _)| !chosen.contains(i)).map(|(_, p)| json!({"status": "declined", "id": p.id, "kind": p.action.kind(), "action": p.action})).collect();
                    if chosen.is_empty() {
                        return Ok(Some(Turn { text: "Okay, I haven't changed anything. Is there something else I can help with?".into(), flow: None, actions: declined, ..Default::default() }));
                    }
                    let plans: Vec<Plan> = f
                        .plans
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| chosen.contains(i))
                        .map(|(_, p)| p.clone())
                        .collect();
                    let skipped: Vec<String> = f
                        .plans
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !chosen.contains(i))
                        .map(|(_, p)| p.summary.clone())
                        .collect();
                    let mut t = self.carry_out(store, conversation_id, Flow { plans, ..f }, now)?;
                    if !skipped.is_empty() {
                        t.text.push_str(&format!(
                            "\nLeft as it is, as you said: {}",
                            skipped.join(" ")
                        ));
                    }
                    t.actions.extend(declined);
                    return Ok(Some(t));
                }
                if is_yes(message) {
                    return self.carry_out(store, conversation_id, f, now).map(Some);
                }
                if is_no(message) {
                    let actions = f.plans.iter().map(|p| json!({"status": "declined", "id": p.id, "kind": p.action.kind(), "action": p.action})).collect();
                    return Ok(Some(Turn { text: "Okay, I haven't changed anything. Is there something else I can help with?".into(), flow: None, actions, ..Default::default() }));
                }
                // Anything else amends the request: read it again with the new words.
                let request = format!("{}\n{}", f.request, message);
                self.start(store, customer_id, &request, now)
                    .map(|t| t.or_else(|| Some(self.reconfirm(f))))
            }
            Some(f) if f.stage == Stage::Done => {
                if is_yes(message) {
                    let text = format!(
                        "That's already done (reference {}); nothing more was changed.",
                        f.done.join(", ")
                    );
                    let actions = f
                        .done
                        .iter()
                        .map(|r| json!({"status": "already_done", "reference": r}))
                        .collect();
                    return Ok(Some(Turn {
                        text,
                        flow: Some(f),
                        actions,
                        ..Default::default()
                    }));
                }
                self.start(store, customer_id, message, now)
            }
            Some(f) => {
                let request = if f.request.is_empty() {
                    message.to_string()
                } else {
                    format!("{}\n{}", f.request, message)
                };
                Ok(Some(self.start(store, customer_id, &request, now)?.unwrap_or_else(|| Turn {
                    text: "What would you like me to do: return or exchange items you've received, cancel or change an order that hasn't shipped, or change your address?".into(),
                    flow: Some(Flow { stage: Stage::Details, request, plans: Vec::new(), done: Vec::new() }),
                    ..Default::default()
                })))
            }
            None => self.start(store, customer_id, message, now),
        }
    }

    fn reconfirm(&self, f: Flow) -> Turn {
        let text = format!(
            "{}\n\nPlease reply \"yes\" to go ahead, or \"no\" to leave everything as it is.",
            list(&f.plans)
        );
        let actions = proposed(&f.plans);
        Turn {
            text,
            flow: Some(f),
            actions,
            ..Default::default()
        }
    }

    /// Reads and plans a request; `None` when it asks for no action at all.
    pub fn start(
        &self,
        store: &dyn OrderStore,
        customer_id: &str,
        request: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Turn>, ActionError> {
        let customer = store
            .customer(customer_id)?
            .ok_or_else(|| ActionError::NotFound(format!("customer {customer_id}")))?;
        let orders = store.orders_for_customer(customer_id)?;
        let products = store.products()?;
        let mut history: HashMap<String, Vec<crate::orders::LoggedAction>> = HashMap::new();
        for a in store.actions_for(None, Some(customer_id))? {
            if let Some(n) = &a.order_number {
                history.entry(n.clone()).or_default().push(a);
            }
        }
        let catalogue = read::Catalogue::new(&products);
        let wishes = read::read(
            request,
            &catalogue,
            &read::Known {
                customer: &customer,
                orders: &orders,
            },
        );
        if wishes.is_empty() {
            return Ok(None);
        }
        let desk = plan::Desk {
            policy: &self.policy,
            customer: &customer,
            orders: &orders,
            catalogue: &catalogue,
            now,
            currency: self.currency,
            history: &history,
        };
        let steps = plan::plan_all(&desk, &wishes);
        Ok(Some(self.reply(request, steps)))
    }

    fn reply(&self, request: &str, steps: Vec<Step>) -> Turn {
        let mut plans = Vec::new();
        let mut asks = Vec::new();
        let mut refusals = Vec::new();
        let mut holds: Vec<String> = Vec::new();
        for s in steps {
            match s {
                Step::Plan(p) => plans.push(p),
                Step::Ask(q) => asks.push(q),
                Step::Refuse(r) => refusals.push(r),
                Step::Hold(h) => holds.push(h),
            }
        }
        let mut text = Vec::new();
        let mut actions: Vec<serde_json::Value> = refusals
            .iter()
            .map(|r| json!({"status": "refused", "reason": r.reason}))
            .collect();
        for r in &refusals {
            text.push(format!("I'm sorry, I can't do that: {}.", r.reason));
        }
        actions.extend(holds.iter().map(|h| json!({"status": "held", "reason": h})));
        text.extend(holds.iter().cloned());
        let handoff = refusals
            .iter()
            .find(|r| r.exception_possible)
            .map(|r| r.reason.clone());
        let order = plans
            .iter()
            .find_map(|p| p.action.order().map(String::from));
        if handoff.is_some() {
            text.push("A member of our team can look at whether an exception is possible.".into());
            return Turn {
                text: text.join("\n\n"),
                flow: None,
                actions,
                handoff,
                order,
            };
        }
        if !asks.is_empty() {
            let mut q = String::from("To go ahead I need a little more from you: ");
            let asked: Vec<String> = asks.iter().map(|a| capitalise(a)).collect();
            q.push_str(&asked.join(" "));
            if !plans.is_empty() {
                q.push_str(" I'll confirm everything together once I have that.");
            }
            text.push(q);
            return Turn {
                text: text.join("\n\n"),
                flow: Some(Flow {
                    stage: Stage::Details,
                    request: request.to_string(),
                    plans: Vec::new(),
                    done: Vec::new(),
                }),
                actions,
                handoff: None,
                order,
            };
        }
        if plans.is_empty() {
            if text.is_empty() {
                text.push("I haven't changed anything: I couldn't tell exactly what you'd like me to do. Could you say which item or order, and what should happen to it?".into());
            }
            return Turn {
                text: text.join("\n\n"),
                flow: None,
                actions,
                handoff: None,
                order,
            };
        }
        let mut confirm = list(&plans);
        if self.policy.changes.items_lock_order
            && plans
                .iter()
                .any(|p| matches!(p.action, Action::ChangeOrderItems { .. }))
        {
            confirm.push_str("\n\nPlease check that this lists every item you want to change on that order: its items can only be changed once, and after that the order can't be changed or cancelled.");
        } else if self.policy.exchanges.once_per_order
            && plans
                .iter()
                .any(|p| matches!(p.action, Action::ExchangeItems { .. }))
        {
            confirm.push_str("\n\nPlease check that this lists every item you want to exchange on that order: an order can only be exchanged once.");
        }
        if plans.len() > 1 {
            confirm.push_str("\n\nShall I go ahead? Reply \"yes\" for all of them, or say which ones (for example \"only 1\" or \"yes, but not 2\"), or tell me what to change.");
        } else {
            confirm.push_str(
                "\n\nShall I go ahead? Please reply \"yes\" to confirm, or tell me what to change.",
            );
        }
        text.push(confirm);
        actions.extend(proposed(&plans));
        Turn {
            text: text.join("\n\n"),
            flow: Some(Flow {
                stage: Stage::Confirm,
                request: request.to_string(),
                plans,
                done: Vec::new(),
            }),
            actions,
            handoff: None,
            order,
        }
    }

    /// Executes every confirmed plan, each in its own transaction.
    fn carry_out(
        &self,
        store: &dyn OrderStore,
        conversation_id: &str,
        f: Flow,
        now: OffsetDateTime,
    ) -> Result<Turn, ActionError> {
        let mut lines = Vec::new();
        let mut actions = Vec::new();
        let mut done = Vec::new();
        let mut staff = Vec::new();
        for p in &f.plans {
            match execute_via(
                self.platform.as_deref(),
                store,
                &self.policy,
                self.currency,
                p,
                Some(conversation_id),
                now,
            ) {
                // Prepared for a person: never "done" (see `platform::settle`).
                Ok(d) if d.pending_approval => {
                    lines.push(format!(
                        "{} Reference: {}.",
                        d.confirmation.trim_end(),
                        d.reference
                    ));
                    actions.push(json!({"status": "pending_approval", "id": p.id, "action_id": d.action_id, "reference": d.reference, "kind": p.action.kind(), "action": p.action}));
                    staff.push(format!("{} (reference {})", p.summary, d.reference));
                    done.push(d.reference);
                }
                Ok(d) => {
                    lines.push(if d.already {
                        format!(
                            "Already done: {} (reference {}).",
                            d.confirmation, d.reference
                        )
                    } else {
                        format!(
                            "Done: {} Reference: {}.",
                            d.confirmation.trim_end(),
                            d.reference
                        )
                    });
                    actions.push(json!({"status": if d.already { "already_done" } else { "executed" }, "id": p.id, "action_id": d.action_id, "reference": d.reference, "kind": p.action.kind(), "action": p.action}));
                    done.push(d.reference);
                }
                Err(ActionError::Refused(why)) | Err(ActionError::NotFound(why)) => {
                    lines.push(format!("I couldn't do this one: {} ({why}).", p.summary));
                    actions.push(json!({"status": "failed", "id": p.id, "kind": p.action.kind(), "action": p.action, "reason": why}));
                }
                // The platform said no, or did not answer: the customer hears why in plain
                // words, and that nothing was changed.
                Err(ActionError::Platform(e)) => {
                    tracing::warn!(plan = %p.id, code = e.code(), error = %e, "the store platform did not carry out a confirmed action");
                    let why = e.customer_text(p.action.order());
                    lines.push(format!("I couldn't do this one: {} ({why}).", p.summary));
                    actions.push(json!({"status": "failed", "id": p.id, "kind": p.action.kind(), "action": p.action, "reason": why, "code": e.code()}));
                }
                Err(e) => return Err(e),
            }
        }
        let order = f
            .plans
            .iter()
            .find_map(|p| p.action.order().map(String::from));
        // A staff task goes to the team's queue with everything prepared.
        let handoff =
            (!staff.is_empty()).then(|| format!("Prepared for approval: {}", staff.join("; ")));
        Ok(Turn {
            text: lines.join("\n"),
            flow: Some(Flow {
                stage: Stage::Done,
                request: String::new(),
                plans: Vec::new(),
                done,
            }),
            actions,
            handoff,
            order,
        })
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn list(plans: &[Plan]) -> String {
    if plans.len() == 1 {
        return format!("Here's what I'll do: {}", plans[0].summary);
    }
    let mut s = String::from("Here's what I'll do:");
    for (i, p) in plans.iter().enumerate() {
        s.push_str(&format!("\n{}. {}", i + 1, p.summary));
    }
    s
}

fn proposed(plans: &[Plan]) -> Vec<serde_json::Value> {
    plans.iter().map(|p| json!({"status": "proposed", "id": p.id, "kind": p.action.kind(), "action": p.action, "summary": p.summary, "amount_cents": p.amount_cents, "grounds": p.grounds})).collect()
}

/// Which of several stated plans a reply picks: "only 1", "yes to the return but not the
/// exchange", "the first and the third", "no to 2". `None` when it names none of them with a yes
/// or a no (a plain "yes", or an amendment).
pub fn selection(message: &str, plans: &[Plan]) -> Option<Vec<usize>> {
    if plans.len() < 2 {
        return None;
    }
    let m = message.trim().to_lowercase();
    let words: Vec<&str> = m
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() > 24 {
        return None;
    }
    let refers = |w: &str| -> Vec<usize> {
        let ordinal = match w {
            "1" | "first" => Some(0),
            "2" | "second" => Some(1),
            "3" | "third" => Some(2),
            "4" | "fourth" => Some(3),
            "5" | "fifth" => Some(4),
            "last" => Some(plans.len() - 1),
            _ => None,
        };
        if let Some(i) = ordinal {
            return if i < plans.len() { vec![i] } else { Vec::new() };
        }
        let kind = |p: &Plan| -> bool {
            match w {
                "return" | "returns" | "refund" => matches!(p.action, Action::ReturnItems { .. }),
                "exchange" | "exchanges" | "swap" => {
                    matches!(p.action, Action::ExchangeItems { .. })
                }
                "cancel" | "cancellation" | "cancelling" => {
                    matches!(p.action, Action::CancelOrder { .. })
                }
                "payment" => matches!(p.action, Action::ChangeOrderPayment { .. }),
                "default" | "account" | "profile" => {
                    matches!(p.action, Action::ChangeDefaultAddress { .. })
                }
                "address" | "addresses" => matches!(
                    p.action,
                    Action::ChangeOrderAddress { .. } | Action::ChangeDefaultAddress { .. }
                ),
                _ => {
                    let digits: String = w.chars().filter(|c| c.is_ascii_digit()).collect();
                    digits.len() >= 5
                        && p.action.order().is_some_and(|o| {
                            o.chars().filter(|c| c.is_ascii_digit()).collect::<String>() == digits
                        })
                }
            }
        };
        (0..plans.len()).filter(|&i| kind(&plans[i])).collect()
    };
    let mut yes: Vec<usize> = Vec::new();
    let mut no: Vec<usize> = Vec::new();
    let mut polarity: Option<bool> = None;
    let mut found = false;
    for w in &words {
        match *w {
            "yes" | "ok" | "okay" | "only" | "just" | "do" | "proceed" | "confirm" | "sure" => {
                polarity = Some(true)
            }
            "no" | "not" | "don't" | "dont" | "except" | "skip" | "drop" | "without" | "leave" => {
                polarity = Some(false)
            }
            _ => {
                let hit = refers(w);
                if hit.is_empty() {
                    continue;
                }
                found = true;
                match polarity {
                    Some(true) => yes.extend(hit),
                    Some(false) => no.extend(hit),
                    None => {}
                }
            }
        }
    }
    if !found || yes.is_empty() && no.is_empty() {
        return None;
    }
    let chosen: Vec<usize> = if yes.is_empty() {
        (0..plans.len()).filter(|i| !no.contains(i)).collect()
    } else {
        (0..plans.len())
            .filter(|i| yes.contains(i) && !no.contains(i))
            .collect()
    };
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_flow_at_the_confirm_stage_awaits_a_yes() {
        let f = Flow {
            stage: Stage::Confirm,
            request: "x".into(),
            plans: Vec::new(),
            done: Vec::new(),
        };
        assert!(awaits_confirmation(Some(
            &serde_json::to_value(&f).unwrap()
        )));
        let f = Flow {
            stage: Stage::Done,
            ..f
        };
        assert!(!awaits_confirmation(Some(
            &serde_json::to_value(&f).unwrap()
        )));
        assert!(!awaits_confirmation(None));
    }

    #[test]
    fn yes_and_no_are_recognised_only_when_they_are_the_answer() {
        for y in [
            "yes",
            "Yes please",
            "yep, go ahead",
            "OK",
            "sure thing",
            "Go ahead.",
            "confirm",
        ] {
            assert!(is_yes(y), "{y}");
        }
        for n in [
            "yes but to the gift card instead",
            "no",
            "what?",
            "I want to return the boots",
        ] {
            assert!(!is_yes(n), "{n}");
        }
        assert!(is_no("No, leave it"));
        assert!(is_no("never mind"));
        assert!(!is_no("yes"));
    }
}
