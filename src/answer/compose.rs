//! Reply text: the store's voice around facts. Order facts come from the order record; policy
//! and how-to text is quoted from the best passage, condensed to the sentences that bear on the
//! question but never reworded.

use time::{macros::format_description, Date, OffsetDateTime};

use super::{gate::terms, Citation, OrderCard, OrderCardItem};
use crate::{
    config::StoreConfig,
    index::Hit,
    money::Currency,
    orders::{Order, OrderStatus},
};

/// The fixed phrases of a reply, in the configured tone.
pub struct Voice<'a> {
    pub store: &'a StoreConfig,
}

/// A wait as a customer reads it: "a minute", "7 minutes" (rounded up, never "0 minutes").
fn in_minutes(secs: u64) -> String {
    match secs.div_ceil(60).max(1) {
        1 => "a minute".to_string(),
        m => format!("{m} minutes"),
    }
}

impl<'a> Voice<'a> {
    pub fn new(store: &'a StoreConfig) -> Self {
        Self { store }
    }

    fn formal(&self) -> bool {
        self.store.tone == "formal"
    }

    /// Opens the first reply of a conversation.
    pub fn greeting(&self) -> String {
        self.store.greeting.clone()
    }

    pub fn welcome(&self) -> String {
        format!(
            "{} I'm the {} assistant. I can check an order's status and delivery, explain our shipping, returns, exchanges and payment options, and help with a return or cancellation. What can I do for you?",
            self.store.greeting, self.store.name
        )
    }

    /// `postcode`: whether an order's shipping postcode is accepted as proof (the identity
    /// policy's `order_postcode`); the phrases never offer a way in that would be refused.
    pub fn ask_for_identity(&self, postcode: bool) -> String {
        let detail = if postcode {
            "the email address (or shipping postcode)"
        } else {
            "the email address"
        };
        if self.formal() {
            format!("To look up your order, please provide your order number and {detail} used at checkout.")
        } else {
            format!("Happy to check that for you! Please send your order number and {detail} you used at checkout.")
        }
    }

    pub fn ask_for_order_number(&self) -> String {
        "Which order is this about? Please send the order number (it's in your order confirmation email).".into()
    }

    pub fn ask_for_contact_detail(&self, postcode: bool) -> String {
        let detail = if postcode {
            "the email address or shipping postcode"
        } else {
            "the email address"
        };
        format!("Thanks! To confirm it's your order, please also send {detail} used at checkout.")
    }

    /// The one reply to every failed verification: it must not reveal which part was wrong or
    /// whether the order exists.
    pub fn verification_failed(&self, postcode: bool) -> String {
        let detail = if postcode {
            "the email address or postcode"
        } else {
            "the email address"
        };
        format!("I'm sorry, I couldn't verify those details. Please check the order number and {detail} used at checkout, and try again.")
    }

    /// Said with a 429 when the hourly cap on new hand-offs is reached.
    pub fn handoffs_limited(&self, retry_after_secs: u64) -> String {
        format!(
            "Our team has more requests than it can take from here right now. Please write to {} or try again in {}.",
            self.store.support_email,
            in_minutes(retry_after_secs)
        )
    }

    /// Said with a 429 when too many checks failed: when to try again, and the other way in.
    pub fn verification_limited(&self, retry_after_secs: u64) -> String {
        format!(
            "For your security I can't check any more details right now. Please try again in {}, or write to {} and a person will help.",
            in_minutes(retry_after_secs),
            self.store.support_email
        )
    }

    pub fn clarify(&self) -> String {
        "I'm not sure I understood. Could you tell me a little more? For example: \"Where is my order?\", \"How do I return an item?\" or \"What payment methods do you accept?\"".into()
    }

    pub fn out_of_scope(&self) -> String {
        format!(
            "I'm {}'s order assistant, so I can only help with orders, deliveries, returns, exchanges, payments and our products. Is there anything like that I can help with?",
            self.store.name
        )
    }

    pub fn thanks_for_feedback(&self) -> String {
        "Thank you for the feedback, we read every comment and pass it on to the team.".into()
    }

    pub fn handed_off(&self, reference: &str) -> String {
        format!(
            "I've passed your conversation to our support team with everything you've told me (reference {reference}). A member of the team will reply here as soon as possible, within one business day. Our team is available {}; you can also reach us at {}.",
            self.store.support_hours, self.store.support_email
        )
    }

    pub fn with_person(&self) -> String {
        "Thanks, your message has been added to your conversation with our support team. A member of the team will reply here.".into()
    }

    pub fn policy_intro(&self) -> &'static str {
        if self.formal() {
            "Here is what our policy says:"
        } else {
            "Here's what our help centre says:"
        }
    }
}

/// "Tue 24 Nov 2026"
pub fn day(d: Date) -> String {
    d.format(format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_default()
}

fn day_of(t: OffsetDateTime) -> String {
    day(t.date())
}

fn return_status(s: crate::orders::ReturnStatus) -> &'static str {
    use crate::orders::ReturnStatus::*;
    match s {
        Requested => "requested, waiting for the parcel to reach us",
        Received => "received and being inspected",
        Refunded => "refunded",
        Rejected => "not accepted",
    }
}

/// The order facts for the API and the widget's card.
pub fn order_card(order: &Order, currency: Currency) -> OrderCard {
    let f = order.fulfilments.last();
    OrderCard {
        number: order.number.clone(),
        status: order.status.as_str().to_string(),
        status_label: order.status.label().to_string(),
        items: order
            .items
            .iter()
            .map(|i| OrderCardItem {
                name: i.name.clone(),
                options: i.options.values().cloned().collect::<Vec<_>>().join(" / "),
                quantity: i.quantity,
                status: i.status.as_str().to_string(),
            })
            .collect(),
        total: currency.amount(order.total_cents),
        carrier: f.and_then(|f| f.carrier.clone()),
        tracking_number: f
            .map(|f| f.tracking_number.clone())
            .filter(|t| !t.is_empty()),
        tracking_url: f.and_then(|f| f.tracking_url.clone()),
        shipped_on: f.and_then(|f| f.shipped_at).map(day_of),
        estimated_delivery: f.and_then(|f| f.estimated_delivery).map(day),
        delivered_on: f.and_then(|f| f.delivered_at).map(day_of),
        latest_event: f.and_then(|f| f.events.last()).map(|e| match &e.location {
            Some(loc) => format!("{} — {} ({})", day_of(e.at), e.status, loc),
            None => format!("{} — {}", day_of(e.at), e.status),
        }),
    }
}

/// Order status in words, every fact from the order record.
pub fn order_status_reply(order: &Order, currency: Currency) -> String {
    let card = order_card(order, currency);
    let n = &order.number;
    let mut out = match order.status {
        OrderStatus::Pending => format!(
            "Order {n} has been placed and we're confirming the payment. It hasn't shipped yet."
        ),
        OrderStatus::Processing => {
            format!("Order {n} is being prepared in our warehouse and hasn't shipped yet.")
        }
        OrderStatus::Shipped => {
            let mut s = format!("Order {n} is on its way");
            if let Some(d) = &card.shipped_on {
                s.push_str(&format!(": it shipped on {d}"));
            }
            if let Some(c) = &card.carrier {
                s.push_str(&format!(" with {c}"));
            }
            s.push('.');
            if let Some(d) = &card.estimated_delivery {
                s.push_str(&format!(" Estimated delivery: {d}."));
            }
            s
        }
        OrderStatus::Delivered => match &card.delivered_on {
            Some(d) => format!("Order {n} was delivered on {d}."),
            None => format!("Order {n} has been delivered."),
        },
        OrderStatus::Cancelled => format!("Order {n} was cancelled."),
        OrderStatus::Returned => format!("Order {n} was returned."),
        OrderStatus::ReturnRequested => format!("A return has been requested for order {n}."),
        OrderStatus::ExchangeRequested => format!("An exchange has been requested for order {n}."),
        OrderStatus::PartiallyReturned => {
            format!("Part of order {n} was returned; the rest was kept.")
        }
    };
    if let Some(t) = &card.tracking_number {
        if matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered) {
            out.push_str(&format!(" Tracking number: {t}"));
            if let Some(url) = &card.tracking_url {
                out.push_str(&format!(" ({url})"));
            }
            out.push('.');
        }
    }
    if let Some(e) = &card.latest_event {
        if order.status == OrderStatus::Shipped {
            out.push_str(&format!(" Latest update: {e}."));
        }
    }
    for r in &order.returns {
        out.push_str(&format!(
            " Return {} ({}): refund of {} to {}.",
            r.number,
            return_status(r.status),
            currency.amount(r.refund_cents),
            r.refund_method
        ));
    }
    let items: Vec<String> = card
        .items
        .iter()
        .map(|i| {
            if i.options.is_empty() {
                format!("{} × {}", i.quantity, i.name)
            } else {
                format!("{} × {} ({})", i.quantity, i.name, i.options)
            }
        })
        .collect();
    if !items.is_empty() {
        out.push_str(&format!(" Items: {}.", items.join(", ")));
    }
    out
}

/// When will it arrive: the delivery facts only.
pub fn delivery_reply(order: &Order, currency: Currency) -> String {
    let card = order_card(order, currency);
    let n = &order.number;
    match (order.status, &card.estimated_delivery, &card.delivered_on) {
        (_, _, Some(d)) => format!("Order {n} was delivered on {d}."),
        (OrderStatus::Shipped, Some(eta), _) => {
            let mut s = format!("Order {n} is estimated to arrive on {eta}.");
            if let (Some(t), Some(url)) = (&card.tracking_number, &card.tracking_url) {
                s.push_str(&format!(
                    " You can follow it with tracking number {t} ({url})."
                ));
            }
            s
        }
        _ => order_status_reply(order, currency),
    }
}

/// Refund facts from the order record.
pub fn refund_status_reply(order: &Order, currency: Currency) -> Option<String> {
    let n = &order.number;
    if order.returns.is_empty() {
        let refunds: Vec<String> = order
            .payments
            .iter()
            .filter(|p| matches!(p.kind, crate::orders::TransactionKind::Refund))
            .map(|p| match p.at {
                Some(at) => format!("{} on {}", currency.amount(p.amount_cents), day_of(at)),
                None => currency.amount(p.amount_cents),
            })
            .collect();
        return (!refunds.is_empty())
            .then(|| format!("Order {n} has these refunds: {}.", refunds.join(", ")));
    }
    Some(
        order
            .returns
            .iter()
            .map(|r| {
                format!(
                    "Return {} for order {n} is {}: a refund of {} to {}.",
                    r.number,
                    return_status(r.status),
                    currency.amount(r.refund_cents),
                    r.refund_method
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// A table row as the chunker writes it: "Header: cell; Header: cell".
fn is_table_row(line: &str) -> bool {
    line.contains("; ") && line.split("; ").all(|part| part.contains(": "))
}

/// Splits text into quotable units: sentences of prose, whole lines of lists and tables.
fn units(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("- ") || is_table_row(line) {
            out.push(line.to_string());
            continue;
        }
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (i, &(pos, c)) in chars.iter().enumerate() {
            let next_space = chars.get(i + 1).is_none_or(|&(_, n)| n == ' ');
            let next_upper = chars
                .get(i + 2)
                .is_none_or(|&(_, n)| n.is_uppercase() || n.is_ascii_digit() || n == '"');
            if matches!(c, '.' | '!' | '?') && next_space && next_upper {
                let s = line[start..pos + 1].trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
                start = pos + 1;
            }
        }
        if start < line.len() && !line[start..].trim().is_empty() {
            out.push(line[start..].trim().to_string());
        }
    }
    out
}

/// The part of a passage that answers the question: short passages whole; longer ones cut to the
/// units sharing the most words with the question (at most `max_units`), in their original order.
/// Units are quoted verbatim.
pub fn condense(question: &str, passage: &str, max_units: usize) -> String {
    let all = units(passage);
    let words = passage.split_whitespace().count();
    if words <= 70 || all.len() <= max_units {
        let list = all.iter().any(|l| l.starts_with("- ") || is_table_row(l));
        return all.join(if list { "\n" } else { " " });
    }
    let q = terms(question);
    let mut scored: Vec<(usize, f32)> = all
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let t = terms(u);
            let overlap = t.intersection(&q).count() as f32;
            // A slight preference for earlier units: help-centre sections lead with the rule.
            (i, overlap - i as f32 * 0.01)
        })
        .collect();
    scored.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let mut keep: Vec<usize> = scored.iter().take(max_units).map(|(i, _)| *i).collect();
    // Nothing overlaps: the section's opening is its best summary.
    if scored.first().is_none_or(|s| s.1 < 0.5) {
        keep = (0..max_units.min(all.len())).collect();
    }
    keep.sort();
    let lines: Vec<&str> = keep.iter().map(|&i| all[i].as_str()).collect();
    let list = lines.iter().any(|l| l.starts_with("- ") || is_table_row(l));
    lines.join(if list { "\n" } else { " " })
}

/// A policy answer: an intro, the condensed best passage, and its citation.
pub fn policy_reply(voice: &Voice, question: &str, hit: &Hit) -> (String, Citation) {
    let body = condense(question, &hit.passage.text, 3);
    let place = if hit.passage.heading.is_empty() {
        hit.passage.title.clone()
    } else {
        format!("{} › {}", hit.passage.title, hit.passage.heading)
    };
    (
        format!("{} {}\n\n(From \"{}\")", voice.policy_intro(), body, place),
        Citation::from(hit),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_with_their_weekday() {
        assert_eq!(day(time::macros::date!(2026 - 11 - 24)), "Tue 24 Nov 2026");
    }

    #[test]
    fn order_amounts_are_in_the_stores_currency() {
        let today = time::macros::date!(2026 - 11 - 24);
        let data = crate::orders::demo::demo_dataset(today).unwrap();
        let euro = Currency::from_code("EUR").unwrap();
        let first = &data.orders[0];
        assert!(order_card(first, euro).total.starts_with('€'));
        assert!(order_card(first, Currency::default())
            .total
            .starts_with('$'));
        let refunded: Vec<String> = data
            .orders
            .iter()
            .filter_map(|o| refund_status_reply(o, euro))
            .collect();
        assert!(!refunded.is_empty(), "the demo store has refunds");
        assert!(
            refunded.iter().all(|r| r.contains('€') && !r.contains('$')),
            "{refunded:?}"
        );
    }

    #[test]
    fn condense_quotes_the_sentences_that_answer() {
        let passage = "Returns are accepted within 30 days of delivery. Items must be unworn with tags attached. \
            Home goods must be unused. We inspect every return within 3 business days. Gift cards cannot be returned. \
            Refunds go to the original payment method. Store credit is issued within 1 business day. \
            International returns are at the customer's cost. Final sale items are marked on the product page. \
            Swimwear must have its hygiene liner attached. Earrings are final sale for hygiene reasons.";
        let out = condense("can I return gift cards?", passage, 2);
        assert!(out.contains("Gift cards cannot be returned."), "{out}");
        assert!(passage.contains(&out.split(". ").next().unwrap().to_string()));
        let short = condense("x", "One sentence only.", 3);
        assert_eq!(short, "One sentence only.");
    }
}
