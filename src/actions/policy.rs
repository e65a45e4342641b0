//! The store's action policy as configuration: return window, which order states allow which
//! action, final sale, exchange rules, refund destinations and timing, cancellation reasons,
//! what may change on an unshipped order and how often, and the identity methods allowed.
//!
//! Two profiles ship inside the binary: `demo` (`policies/demo.toml`, matching the demo store's
//! help centre) and `tau-retail` (`policies/tau-retail.toml`, the τ-bench retail agent policy).
//! A store writes its own file in the same form and points `[policy] path` at it.
//!
//! This module only describes the rules and answers "is this allowed, and if not, why"; it does
//! not read messages or change orders.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    config::{IdentityConfig, PolicyConfig},
    orders::{Order, OrderItem, OrderStatus, Product},
};

/// The built-in profiles, by name.
pub const PROFILES: &[(&str, &str)] = &[
    ("demo", include_str!("../../policies/demo.toml")),
    ("tau-retail", include_str!("../../policies/tau-retail.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown policy profile {0:?} (built in: demo, tau-retail; or set policy.path)")]
    UnknownProfile(String),
    #[error("policy file {path}: {message}")]
    File { path: String, message: String },
    #[error("policy {name}: {message}")]
    Invalid { name: String, message: String },
}

/// The whole policy. Every section has defaults, so a file only states what differs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    #[serde(default)]
    pub identity: IdentityPolicy,
    #[serde(default)]
    pub returns: ReturnRules,
    #[serde(default)]
    pub exchanges: ExchangeRules,
    #[serde(default)]
    pub cancellation: CancelRules,
    #[serde(default)]
    pub changes: ChangeRules,
    #[serde(default)]
    pub default_address: DefaultAddressRules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMethod {
    OrderEmail,
    OrderPostcode,
    Email,
    NamePostcode,
    UserIdPostcode,
    Token,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityPolicy {
    pub methods: Vec<IdentityMethod>,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        Self {
            methods: vec![IdentityMethod::OrderEmail, IdentityMethod::Token],
        }
    }
}

/// Where a refund may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundDestination {
    /// The payment method the order was paid with.
    Original,
    /// A gift card the customer already has.
    GiftCard,
    /// A new store gift card, with the configured bonus.
    StoreCredit,
}

impl RefundDestination {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::GiftCard => "gift_card",
            Self::StoreCredit => "store_credit",
        }
    }
}

/// How the price difference of an exchange or item change is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Charged to or refunded to the order's own payment method.
    Original,
    /// Any of the customer's payment methods; a gift card must cover a charge.
    CustomerChoice,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefundTiming {
    pub original: String,
    pub gift_card: String,
    pub store_credit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReturnRules {
    /// Days from delivery; `None`: no window.
    pub window_days: Option<i64>,
    pub allowed_states: Vec<OrderStatus>,
    pub final_sale_tags: Vec<String>,
    pub refund_to: Vec<RefundDestination>,
    pub default_refund: RefundDestination,
    pub store_credit_bonus_percent: i64,
    /// Hand off (a person may make an exception) instead of only refusing, where that makes
    /// sense: a return just outside the window.
    pub handoff_exceptions: bool,
    pub instructions: String,
    pub timing: RefundTiming,
}

impl Default for ReturnRules {
    fn default() -> Self {
        Self {
            // Left out of a file: no window.
            window_days: None,
            allowed_states: vec![OrderStatus::Delivered],
            final_sale_tags: vec!["final-sale".into()],
            refund_to: vec![RefundDestination::Original],
            default_refund: RefundDestination::Original,
            store_credit_bonus_percent: 0,
            handoff_exceptions: false,
            instructions: String::new(),
            timing: RefundTiming::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeRules {
    pub window_days: Option<i64>,
    pub allowed_states: Vec<OrderStatus>,
    pub same_product: bool,
    pub require_in_stock: bool,
    pub price_difference: Settlement,
    pub once_per_order: bool,
    pub instructions: String,
}

impl Default for ExchangeRules {
    fn default() -> Self {
        Self {
            window_days: None,
            allowed_states: vec![OrderStatus::Delivered],
            same_product: true,
            require_in_stock: true,
            price_difference: Settlement::Original,
            once_per_order: false,
            instructions: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CancelRules {
    pub allowed_states: Vec<OrderStatus>,
    /// Accepted reasons (lower case); empty accepts any.
    pub reasons: Vec<String>,
    pub allow_partial: bool,
    pub refund_timing: String,
    pub refund_timing_gift_card: String,
}

impl Default for CancelRules {
    fn default() -> Self {
        Self {
            allowed_states: vec![OrderStatus::Pending, OrderStatus::Processing],
            reasons: Vec::new(),
            allow_partial: false,
            refund_timing: String::new(),
            refund_timing_gift_card: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeRules {
    pub allowed_states: Vec<OrderStatus>,
    pub items: bool,
    /// How many item changes an order allows; 0: no limit.
    pub items_max: u32,
    pub items_lock_order: bool,
    pub address: bool,
    pub address_max: u32,
    pub payment: bool,
    pub payment_max: u32,
    pub price_difference: Settlement,
}

impl Default for ChangeRules {
    fn default() -> Self {
        Self {
            allowed_states: vec![OrderStatus::Pending, OrderStatus::Processing],
            items: true,
            items_max: 0,
            items_lock_order: false,
            address: true,
            address_max: 0,
            payment: true,
            payment_max: 0,
            price_difference: Settlement::Original,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultAddressRules {
    pub allowed: bool,
}

impl Default for DefaultAddressRules {
    fn default() -> Self {
        Self { allowed: true }
    }
}

/// Why something is not allowed: said to the customer as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub reason: String,
    /// A person could make an exception: hand off rather than only refuse.
    pub exception_possible: bool,
}

impl Refusal {
    fn flat(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            exception_possible: false,
        }
    }
}

fn states(list: &[OrderStatus]) -> String {
    let names: Vec<&str> = list.iter().map(|s| s.label()).collect();
    match names.as_slice() {
        [] => "no state".into(),
        [one] => one.to_lowercase(),
        [rest @ .., last] => format!(
            "{} or {}",
            rest.join(", ").to_lowercase(),
            last.to_lowercase()
        ),
    }
}

impl Policy {
    /// The policy the config names: `policy.path` when set, else the built-in `policy.profile`.
    pub fn from_config(cfg: &PolicyConfig) -> Result<Self, PolicyError> {
        match &cfg.path {
            Some(p) => Self::from_file(p),
            None => Self::profile(&cfg.profile),
        }
    }

    pub fn profile(name: &str) -> Result<Self, PolicyError> {
        let (_, text) = PROFILES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| PolicyError::UnknownProfile(name.into()))?;
        Self::parse(text, &format!("profile {name}"))
    }

    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::File {
            path: origin.into(),
            message: e.to_string(),
        })?;
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let bad = |m: &str| {
            Err(PolicyError::Invalid {
                name: self.name.clone(),
                message: m.into(),
            })
        };
        if self.returns.refund_to.is_empty() {
            return bad("returns.refund_to must list at least one destination");
        }
        if !self
            .returns
            .refund_to
            .contains(&self.returns.default_refund)
        {
            return bad("returns.default_refund must be one of returns.refund_to");
        }
        if self.identity.methods.is_empty() {
            return bad("identity.methods must list at least one method");
        }
        Ok(())
    }

    pub fn allows_identity(&self, m: IdentityMethod) -> bool {
        self.identity.methods.contains(&m)
    }

    /// The identity checks the assistant runs follow the policy's methods.
    pub fn apply_identity(&self, cfg: &mut IdentityConfig) {
        cfg.allow_email_only = self.allows_identity(IdentityMethod::Email);
        cfg.allow_name_postcode = self.allows_identity(IdentityMethod::NamePostcode);
        cfg.allow_order_postcode = self.allows_identity(IdentityMethod::OrderPostcode);
        cfg.allow_user_id_postcode = self.allows_identity(IdentityMethod::UserIdPostcode);
    }

    pub fn is_final_sale(&self, item: &OrderItem, product: Option<&Product>) -> bool {
        item.final_sale
            || product.is_some_and(|p| {
                p.tags
                    .iter()
                    .any(|t| self.returns.final_sale_tags.iter().any(|f| f == t))
            })
    }

    fn window(
        &self,
        order: &Order,
        days: Option<i64>,
        now: OffsetDateTime,
        what: &str,
    ) -> Result<(), Refusal> {
        let Some(days) = days else { return Ok(()) };
        let Some(delivered) = order.delivered_at() else {
            return Ok(());
        };
        // Calendar days, as a customer counts them.
        let age = (now.date() - delivered.date()).whole_days();
        if age > days {
            return Err(Refusal {
                reason: format!("order {} was delivered {age} days ago, and {what} can only be started within {days} days of delivery", order.number),
                exception_possible: self.returns.handoff_exceptions,
            });
        }
        Ok(())
    }

    /// Whether these lines of `order` may be returned now.
    pub fn check_return(
        &self,
        order: &Order,
        items: &[(&OrderItem, Option<&Product>)],
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        if !self.returns.allowed_states.contains(&order.status) {
            return Err(Refusal::flat(format!(
                "order {} is {}, and only {} orders can be returned",
                order.number,
                order.status.label().to_lowercase(),
                states(&self.returns.allowed_states)
            )));
        }
        self.window(order, self.returns.window_days, now, "a return")?;
        for (item, product) in items {
            if self.is_final_sale(item, *product) {
                return Err(Refusal::flat(format!(
                    "the {} is final sale, so it can't be returned or exchanged",
                    item.name
                )));
            }
        }
        Ok(())
    }

    pub fn check_exchange(
        &self,
        order: &Order,
        items: &[(&OrderItem, Option<&Product>)],
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        if !self.exchanges.allowed_states.contains(&order.status) {
            return Err(Refusal::flat(format!(
                "order {} is {}, and only {} orders can be exchanged",
                order.number,
                order.status.label().to_lowercase(),
                states(&self.exchanges.allowed_states)
            )));
        }
        self.window(order, self.exchanges.window_days, now, "an exchange")?;
        for (item, product) in items {
            if self.is_final_sale(item, *product) {
                return Err(Refusal::flat(format!(
                    "the {} is final sale, so it can't be returned or exchanged",
                    item.name
                )));
            }
        }
        Ok(())
    }

    pub fn check_cancel(&self, order: &Order) -> Result<(), Refusal> {
        if !self.cancellation.allowed_states.contains(&order.status) {
            let why = if matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered) {
                format!("order {} has already shipped, so it can't be cancelled; once it arrives you can return it instead", order.number)
            } else {
                format!(
                    "order {} is {}, and only {} orders can be cancelled",
                    order.number,
                    order.status.label().to_lowercase(),
                    states(&self.cancellation.allowed_states)
                )
            };
            return Err(Refusal::flat(why));
        }
        Ok(())
    }

    /// The accepted cancellation reason a customer's words map to; `Ok(None)` when any reason
    /// is accepted and none was given.
    pub fn cancel_reason(&self, given: Option<&str>) -> Result<Option<String>, Refusal> {
        if self.cancellation.reasons.is_empty() {
            return Ok(given.map(String::from));
        }
        match given {
            Some(r) if self.cancellation.reasons.iter().any(|x| x == r) => Ok(Some(r.to_string())),
            _ => Err(Refusal::flat(format!(
                "an order can be cancelled because it is {}",
                self.cancellation
                    .reasons
                    .iter()
                    .map(|r| format!("\"{r}\""))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
        }
    }

    /// Whether an unshipped order may still be changed at all (`what`: "items", "address",
    /// "payment"); `done` is how many changes of that kind it already had, `locked` whether an
    /// earlier item change locked it.
    pub fn check_change(
        &self,
        order: &Order,
        what: &str,
        done: u32,
        locked: bool,
    ) -> Result<(), Refusal> {
        let c = &self.changes;
        if !c.allowed_states.contains(&order.status) {
            let why = if matches!(order.status, OrderStatus::Shipped | OrderStatus::Delivered) {
                format!(
                    "order {} has already shipped, so it can no longer be changed",
                    order.number
                )
            } else {
                format!(
                    "order {} is {}, and only {} orders can be changed",
                    order.number,
                    order.status.label().to_lowercase(),
                    states(&c.allowed_states)
                )
            };
            return Err(Refusal::flat(why));
        }
        if locked {
            return Err(Refusal::flat(format!("the items of order {} were already changed, so it can't be changed or cancelled any more", order.number)));
        }
        let (allowed, max) = match what {
            "items" => (c.items, c.items_max),
            "address" => (c.address, c.address_max),
            _ => (c.payment, c.payment_max),
        };
        if !allowed {
            return Err(Refusal::flat(format!(
                "the {what} of an order can't be changed here"
            )));
        }
        if max > 0 && done >= max {
            let times = if max == 1 {
                "once".to_string()
            } else {
                format!("{max} times")
            };
            return Err(Refusal { reason: format!("the {what} of an order can only be changed {times}, and order {}'s already was", order.number), exception_possible: what == "address" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_profiles_parse_and_differ_where_the_policies_do() {
        let demo = Policy::profile("demo").unwrap();
        let tau = Policy::profile("tau-retail").unwrap();
        assert_eq!(demo.returns.window_days, Some(30));
        assert_eq!(tau.returns.window_days, None);
        assert!(demo.cancellation.reasons.is_empty());
        assert_eq!(
            tau.cancellation.reasons,
            vec!["no longer needed", "ordered by mistake"]
        );
        assert!(
            tau.allows_identity(IdentityMethod::NamePostcode)
                && !demo.allows_identity(IdentityMethod::NamePostcode)
        );
        assert!(tau.changes.items_lock_order && !demo.changes.items_lock_order);
        assert!(Policy::profile("nope").is_err());
    }

    #[test]
    fn a_default_refund_outside_the_allowed_destinations_is_rejected() {
        let text = "name = \"x\"\n[returns]\nrefund_to = [\"original\"]\ndefault_refund = \"store_credit\"\n";
        assert!(matches!(
            Policy::parse(text, "t"),
            Err(PolicyError::Invalid { .. })
        ));
        assert!(Policy::parse("name = \"x\"\n[returns]\nwindow_dayz = 3\n", "t").is_err());
    }

    #[test]
    fn reasons_must_be_one_of_the_accepted_ones_when_the_policy_lists_them() {
        let tau = Policy::profile("tau-retail").unwrap();
        assert_eq!(
            tau.cancel_reason(Some("ordered by mistake"))
                .unwrap()
                .as_deref(),
            Some("ordered by mistake")
        );
        assert!(tau.cancel_reason(Some("too expensive")).is_err());
        assert!(tau.cancel_reason(None).is_err());
        let demo = Policy::profile("demo").unwrap();
        assert_eq!(demo.cancel_reason(None).unwrap(), None);
    }
}
