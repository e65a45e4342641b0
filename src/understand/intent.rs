//! The public intent taxonomy: what a customer's message asks for. The names are part of the
//! answer API (snake_case on the wire) and of `models/intent-head.json`, so renaming one means
//! retraining the head.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// What the customer wants. Each variant says which messages belong to it; the boundary cases
/// (e.g. "can I return this?" is `return_policy`, "I want to return this" is `return_request`)
/// follow the training examples in `models/intent-examples.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Where an order is: its status, tracking, or when it will arrive.
    OrderStatus,
    /// Cancel an order that was placed.
    CancelOrder,
    /// Add, remove or swap items, or otherwise modify an order not yet shipped (not its address).
    ChangeOrder,
    /// Change or set up the shipping address (of an order or of the account).
    ChangeAddress,
    /// Ask for money back.
    RefundRequest,
    /// Ask where a refund already requested is, or whether it was processed.
    RefundStatus,
    /// Send a received item back (start a return), without asking for a different variant.
    ReturnRequest,
    /// Swap a received item for another size, colour or variant of the same product.
    ExchangeRequest,
    /// The rules for returns and refunds: window, conditions, who pays, what qualifies.
    ReturnPolicy,
    /// Shipping options, costs, carriers, countries and delivery times in general.
    DeliveryInfo,
    /// Which ways of paying the store accepts.
    PaymentMethods,
    /// A payment that failed, was declined, or was charged wrongly.
    PaymentIssue,
    /// Get, see or correct an invoice, bill or receipt.
    Invoice,
    /// Sign-up, sign-in, password, profile, account switching or deletion.
    Account,
    /// Whether cancelling costs anything, and how much.
    CancellationFee,
    /// Help buying something: how to order, checkout, a purchase the customer wants to make.
    PlaceOrder,
    /// A question about a product: material, sizing, care, features, what it is like.
    ProductQuestion,
    /// Whether a product, size or colour is in stock, or when it will be back.
    StockCheck,
    /// Reach the store's people: an agent, customer service, phone, email or hours.
    ContactHuman,
    /// A grievance about the store, its service or an order, or a wish to file a complaint.
    Complaint,
    /// Leave a review, a rating, praise or a suggestion.
    Feedback,
    /// Subscribe to or unsubscribe from the newsletter and marketing emails.
    Newsletter,
    /// A hello with no request yet.
    Greeting,
    /// Added beyond the brief's list: a thank-you with no request, so "thanks!" after an answer is
    /// not mistaken for an off-topic question.
    Thanks,
    /// Added beyond the brief's list: the customer is done ("bye", "that's all").
    Goodbye,
    /// Anything the store does not handle: chit-chat, general knowledge, other businesses.
    OutOfScope,
}

impl Intent {
    /// Every intent, in declaration order.
    pub const ALL: [Intent; 26] = [
        Intent::OrderStatus,
        Intent::CancelOrder,
        Intent::ChangeOrder,
        Intent::ChangeAddress,
        Intent::RefundRequest,
        Intent::RefundStatus,
        Intent::ReturnRequest,
        Intent::ExchangeRequest,
        Intent::ReturnPolicy,
        Intent::DeliveryInfo,
        Intent::PaymentMethods,
        Intent::PaymentIssue,
        Intent::Invoice,
        Intent::Account,
        Intent::CancellationFee,
        Intent::PlaceOrder,
        Intent::ProductQuestion,
        Intent::StockCheck,
        Intent::ContactHuman,
        Intent::Complaint,
        Intent::Feedback,
        Intent::Newsletter,
        Intent::Greeting,
        Intent::Thanks,
        Intent::Goodbye,
        Intent::OutOfScope,
    ];

    /// The wire name (snake_case), as in serde and the head file.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::OrderStatus => "order_status",
            Intent::CancelOrder => "cancel_order",
            Intent::ChangeOrder => "change_order",
            Intent::ChangeAddress => "change_address",
            Intent::RefundRequest => "refund_request",
            Intent::RefundStatus => "refund_status",
            Intent::ReturnRequest => "return_request",
            Intent::ExchangeRequest => "exchange_request",
            Intent::ReturnPolicy => "return_policy",
            Intent::DeliveryInfo => "delivery_info",
            Intent::PaymentMethods => "payment_methods",
            Intent::PaymentIssue => "payment_issue",
            Intent::Invoice => "invoice",
            Intent::Account => "account",
            Intent::CancellationFee => "cancellation_fee",
            Intent::PlaceOrder => "place_order",
            Intent::ProductQuestion => "product_question",
            Intent::StockCheck => "stock_check",
            Intent::ContactHuman => "contact_human",
            Intent::Complaint => "complaint",
            Intent::Feedback => "feedback",
            Intent::Newsletter => "newsletter",
            Intent::Greeting => "greeting",
            Intent::Thanks => "thanks",
            Intent::Goodbye => "goodbye",
            Intent::OutOfScope => "out_of_scope",
        }
    }

    /// Social turns (hello, thanks, bye) and off-topic messages: they carry no request of their
    /// own, so a clause with one of these never counts as a separate request beside a real one.
    pub fn is_chit_chat(self) -> bool {
        matches!(
            self,
            Intent::Greeting | Intent::Thanks | Intent::Goodbye | Intent::OutOfScope
        )
    }
}

impl Intent {
    /// Intents that ask for information (about products, stock, policies, shipping, payment
    /// options, fees) rather than for something to be done.
    pub fn is_question(self) -> bool {
        matches!(
            self,
            Intent::ProductQuestion
                | Intent::StockCheck
                | Intent::ReturnPolicy
                | Intent::DeliveryInfo
                | Intent::PaymentMethods
                | Intent::CancellationFee
        )
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the taxonomy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown intent {0:?}")]
pub struct UnknownIntent(pub String);

impl FromStr for Intent {
    type Err = UnknownIntent;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Intent::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| UnknownIntent(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for i in Intent::ALL {
            assert_eq!(i.as_str().parse::<Intent>().unwrap(), i);
            assert_eq!(
                serde_json::to_string(&i).unwrap(),
                format!("\"{}\"", i.as_str())
            );
        }
        assert!("track_order".parse::<Intent>().is_err());
    }
}
