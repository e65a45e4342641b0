//! One [`Config`], loaded once: built-in defaults < `shopkeep.toml` < `SHOPKEEP_*` environment
//! variables < command-line flags (applied by the CLI). Everything else receives the struct, or
//! the part of it it needs, instead of long argument lists.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration. Every field has a default, so an empty file is a valid config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds the database and (unless `index_dir` is set) the index.
    pub data_dir: PathBuf,
    /// The knowledge base: Markdown, text, HTML and PDF documents.
    pub kb_dir: PathBuf,
    /// The index root; defaults to `<data_dir>/index`.
    pub index_dir: Option<PathBuf>,
    pub model: ModelConfig,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub identity: IdentityConfig,
    pub gate: GateConfig,
    /// The action policy (returns, exchanges, cancellations, changes): see `actions::policy`.
    pub policy: PolicyConfig,
    /// The team's API (hand-offs and agent replies).
    pub admin: AdminConfig,
    /// Masking and retention of the conversation log: see `privacy`.
    pub privacy: PrivacyConfig,
    /// Hand-offs POSTed to the store's helpdesk: see `webhook`.
    pub webhook: WebhookConfig,
    /// Bounds on new hand-offs, so one client cannot bury real customers in the team's queue.
    pub handoff: HandoffConfig,
    /// The email channel: mail in (IMAP, webhook, `shopkeep email ingest`), replies out by SMTP.
    pub email: EmailConfig,
    /// The knowledge base that grows: unanswered questions clustered into suggested articles.
    pub learn: LearnConfig,
    /// Where the store's orders live: shopkeep's own store, or a store platform (see `platform`).
    pub platform: PlatformConfig,
    /// Seed the demo store *Larkfield Goods* into an empty order database (`serve --demo`,
    /// `SHOPKEEP_DEMO`). Off by default: a real store's database starts empty (or imported).
    pub demo: bool,
}

/// Which platform holds the store's orders (see `platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformKind {
    /// shopkeep's own order store: the demo store, imports, τ-bench evaluation.
    #[default]
    Embedded,
    /// A Medusa 2.x server, through its Admin API.
    Medusa,
    /// A Shopify shop, through its Admin GraphQL API (a custom app's access token).
    Shopify,
    /// A WooCommerce store, through its REST API v3 (a consumer key and secret).
    #[serde(rename = "woocommerce")]
    WooCommerce,
}

impl std::str::FromStr for PlatformKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "embedded" => Ok(Self::Embedded),
            "medusa" => Ok(Self::Medusa),
            "shopify" => Ok(Self::Shopify),
            "woocommerce" => Ok(Self::WooCommerce),
            other => Err(format!(
                "{other:?} is not a platform (embedded, medusa, shopify or woocommerce)"
            )),
        }
    }
}

/// The store platform: `kind`, and for a remote one where it is and the key it accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformConfig {
    pub kind: PlatformKind,
    /// The platform's base URL ("https://shop.example/" for Medusa's server,
    /// "https://your-shop.myshopify.com" for Shopify).
    pub url: String,
    /// Medusa: a secret API key (`sk_…`, Settings → Secret API keys), sent as HTTP Basic.
    /// Shopify: the custom app's Admin API access token (`shpat_…`).
    /// WooCommerce: the REST API consumer key and secret as `ck_…:cs_…`.
    pub api_key: String,
    /// Shopify: the Admin API version every request is pinned to (the connector's GraphQL
    /// documents are validated against this version's published schema).
    pub api_version: String,
    /// How long one request to the platform may take.
    pub timeout_secs: u64,
    /// The HMAC-SHA256 key of the platform's change events (`POST /v1/platform/events`, sent by
    /// contrib/medusa/src/subscribers/shopkeep.ts; for Shopify the app's client secret, which
    /// signs its webhooks); empty turns the route off. 16+ characters.
    pub events_secret: String,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            kind: PlatformKind::Embedded,
            url: String::new(),
            api_key: String::new(),
            api_version: SHOPIFY_API_VERSION.into(),
            timeout_secs: 15,
            events_secret: String::new(),
        }
    }
}

/// Which questions count as unanswered, and how they are grouped (see `learn`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnConfig {
    /// Remember unanswered questions at all.
    pub enabled: bool,
    /// A question joins the cluster whose centre is at least this close (cosine); otherwise it
    /// starts a new one. MiniLM puts rewordings of one question at about 0.7 to 0.9, and
    /// different questions on one topic ("gift wrap" vs "gift cards") at about 0.5 to 0.65.
    pub similarity: f32,
    /// Clusters with fewer questions are not suggested yet (one question is not a pattern).
    pub min_questions: u32,
    /// A help-centre answer whose best passage's cosine is below this counts as a low-confidence
    /// answer and is remembered too (it passed the gate, but only just).
    pub low_confidence_dense: f32,
}

impl Default for LearnConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            similarity: 0.7,
            min_questions: 2,
            low_confidence_dense: 0.5,
        }
    }
}

/// The hand-off webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where hand-off packets are POSTed (http or https); empty turns the webhook off.
    pub url: String,
    /// The HMAC-SHA256 key of the signature header; at least 16 characters when `url` is set.
    pub secret: String,
    /// Attempts per hand-off before it is marked failed.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one (capped at an hour).
    pub backoff_ms: u64,
    /// How long one attempt may take.
    pub timeout_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: String::new(),
            max_attempts: 8,
            backoff_ms: 5000,
            timeout_secs: 10,
        }
    }
}

/// Caps on new hand-offs per hour. Beyond a cap the customer gets a 429 with `Retry-After` and
/// the support address instead of a new entry in the queue; a conversation already with a person
/// is not affected (it has its hand-off).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffConfig {
    /// New hand-offs one client address may open in an hour.
    pub max_per_client_per_hour: u32,
    /// New hand-offs all clients together may open in an hour.
    pub max_per_hour: u32,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        // A person asking twice in an hour is normal, five times from one address is not; a
        // small team clears a few hundred hand-offs a day.
        Self {
            max_per_client_per_hour: 5,
            max_per_hour: 300,
        }
    }
}

/// How long conversations are kept, and how they are shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Conversations idle for longer are purged (by `serve` daily and `shopkeep privacy purge`);
    /// 0 keeps them for ever.
    pub retention_days: u32,
    /// Mask emails, phone numbers, card-like numbers and street addresses in the conversation
    /// log and analytics views.
    pub mask_logs: bool,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            retention_days: 365,
            mask_logs: true,
        }
    }
}

/// The email channel (see `email`). Off until `store_address` is set. shopkeep speaks plain SMTP
/// and IMAP: point it at a mail server on the same machine or network (which relays with TLS),
/// not across the internet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// The store's support address: the From of every reply, and the mailbox customers write to.
    /// Empty: the email channel is off.
    pub store_address: String,
    /// The team's helpdesk: hand-offs from email are forwarded here with the hand-off packet.
    /// Empty: hand-offs stay in the journal (and `/v1/handoffs`) only.
    pub helpdesk_address: String,
    /// Outgoing mail. Empty host: replies are composed and journaled but not sent.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_username: String,
    pub smtp_password: String,
    /// "none", "starttls" (ports 587 and 25) or "tls" (465). See `email::tls`.
    pub smtp_tls: TlsMode,
    /// Incoming mail by IMAP, polled by `shopkeep serve`. Empty host: no polling.
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_username: String,
    pub imap_password: String,
    pub imap_mailbox: String,
    /// "none", "starttls" (port 143) or "tls" (993).
    pub imap_tls: TlsMode,
    /// A PEM file of CA certificates to trust besides the public roots (a mail server with a
    /// private CA or a self-signed certificate). Empty: the public roots only.
    pub tls_ca_file: String,
    /// Seconds between checks; with IDLE, the longest wait before checking anyway.
    pub poll_secs: u64,
    /// Wait with IMAP IDLE (new mail is answered at once) when the server offers it.
    pub idle: bool,
    /// Shared secret of `POST /v1/email/inbound` (header `X-Shopkeep-Key` or `?key=`); empty:
    /// the webhook is off (403 `email_inbound_disabled`).
    pub inbound_secret: String,
    /// The authserv-id of the store's own receiving mail server (the first field of the
    /// Authentication-Results headers it adds, such as `mx.shop.example`). Set, only its results
    /// are believed; empty, every such header counts (any failure in any of them wins).
    pub authserv_id: String,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            store_address: String::new(),
            helpdesk_address: String::new(),
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_tls: Default::default(),
            imap_host: String::new(),
            imap_port: 143,
            imap_username: String::new(),
            imap_password: String::new(),
            imap_mailbox: "INBOX".into(),
            imap_tls: Default::default(),
            tls_ca_file: String::new(),
            poll_secs: 60,
            idle: true,
            inbound_secret: String::new(),
            authserv_id: String::new(),
        }
    }
}

/// Access to the team's API and the desk (the admin pages).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token for the team's API (an admin without a user account); empty: only users'
    /// own tokens (`shopkeep admin create-token`) are accepted.
    pub api_token: String,
    /// Mark the desk's cookies `Secure` (the service is reached over https, directly or behind a
    /// proxy). Leave off only for plain-http use on a trusted network or loopback.
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub session_hours: u64,
    /// Failed logins from one address within `login_window_secs` before it must wait.
    pub login_failures: usize,
    pub login_window_secs: u64,
    /// How soon a hand-off should get a person's first reply, in minutes: the queue shows each
    /// one's age against it and marks those past it as overdue.
    pub reply_target_mins: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            api_token: String::new(),
            secure_cookies: false,
            session_hours: 12,
            login_failures: 5,
            login_window_secs: 300,
            reply_target_mins: 60,
        }
    }
}

/// Shortest admin token accepted: a guessable token would open every hand-off's transcript.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// Which action policy the guided actions follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// A built-in profile: `demo` (the demo store's help centre) or `tau-retail`.
    pub profile: String,
    /// A policy TOML file of the store's own; overrides `profile`.
    pub path: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            profile: "demo".into(),
            path: None,
        }
    }
}

/// The store's voice: every reply is framed by these, never by free text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub name: String,
    /// Opens a conversation's first reply.
    pub greeting: String,
    /// Closes replies that end an exchange (and every email reply).
    pub sign_off: String,
    /// "friendly" or "formal": picks the wording of the fixed phrases.
    pub tone: String,
    pub support_email: String,
    pub support_hours: String,
    /// The store's time zone, an IANA name ("Europe/Berlin"): the desk shows every time in it.
    pub timezone: String,
    /// The store's currency, ISO 4217 ("EUR"): every amount replies, plans and the desk write is
    /// in it (see [`crate::money`]). Order amounts are in its minor unit (cents).
    pub currency: String,
    /// The address of a product's page, `{id}` standing for the product id
    /// ("https://shop.example/products/{id}"): the link a product answer cites when the platform
    /// gives the product none. Empty: no link (`serve --demo` uses the demo store's pages).
    pub product_url: String,
}

impl StoreConfig {
    /// `currency`, typed. A loaded config has been validated, so the fallback (US dollars) is
    /// only for a hand-built one with a bad code.
    pub fn currency(&self) -> crate::money::Currency {
        crate::money::Currency::from_code(&self.currency).unwrap_or_default()
    }
}

/// How a customer may prove who they are before seeing order data. The three `allow_*` flags are
/// set from the action policy's `[identity] methods` when the assistant starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Order number plus the order's email or postcode is always allowed; these add more ways.
    /// An email address alone (the τ-bench retail policy allows it; most stores should not).
    pub allow_email_only: bool,
    /// First and last name plus postcode.
    pub allow_name_postcode: bool,
    /// An order number plus the order's shipping postcode. Off unless the policy lists
    /// `order_postcode`: order numbers are sequential and postcodes cluster, so it is guessable.
    pub allow_order_postcode: bool,
    /// A τ-bench style user id plus the postcode on file (a name + postcode claim spelled as the id).
    pub allow_user_id_postcode: bool,
    /// Secret for the store's signed customer tokens (HMAC-SHA256); empty disables tokens.
    pub token_secret: String,
    /// Failed verification attempts allowed per conversation; beyond it order lookups in that
    /// conversation are refused (429) for `failure_window_secs`.
    pub max_failures_per_conversation: u32,
    /// Failed attempts allowed per client address in `failure_window_secs`.
    pub max_failures_per_client: u32,
    /// Failed attempts allowed against one order number in `failure_window_secs`, from any
    /// address: guessing one order's email from many addresses stops here.
    pub max_failures_per_order: u32,
    pub failure_window_secs: u64,
}

/// Thresholds of the confidence gate (see `answer::gate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// Below this intent probability the assistant asks what the customer means.
    pub min_intent_confidence: f32,
    /// Below this cosine between the question and the best passage, grounding is weak.
    pub min_dense: f32,
    /// At or above this cosine the best passage grounds the answer on its own; between
    /// `min_dense` and this, it must also contain `min_coverage` of the question's content words.
    pub strong_dense: f32,
    pub min_coverage: f32,
    /// No longer used: the answer selector (`answer::select`) decides whether a product page's
    /// content answers a question. Still accepted, so a config file written for an earlier
    /// version loads; [`Config::load`] logs a warning when it is set.
    #[serde(skip_serializing)]
    pub product_min_dense: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// A directory with model.safetensors, tokenizer.json and config.json. When unset, the
    /// embedder looks in `<models_root>/all-minilm-l6-v2`, then on the hub.
    pub dir: Option<PathBuf>,
    pub models_root: PathBuf,
    /// Whether to try the Hugging Face hub when no model is on disk.
    pub allow_hub: bool,
    /// At most this many requests wait on model work at once (it runs off the async runtime).
    pub max_concurrent: usize,
    /// Concurrent questions are embedded together in batches of up to this many texts.
    pub max_batch: usize,
    /// Question vectors remembered (repeat questions skip the model); 0 turns the cache off.
    pub cache_entries: usize,
    /// "fp32" (default, exact) or "int8" (faster on CPUs with AVX-512 VNNI; see README, Speed).
    pub precision: Precision,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// How often the server checks for a newly built index generation.
    pub index_refresh_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests taking longer than this are answered with a timeout error.
    pub request_timeout_secs: u64,
    /// `/v1/answer` requests served at once; more are refused at once with 503 + Retry-After.
    /// The default, 128, is about 40 ms of queue at the 3,000 answers/s two cores serve: a
    /// burst waits briefly instead of being refused, and beyond that the wait stays bounded.
    pub max_in_flight: usize,
    /// Live reply streams (`/v1/conversations/{id}/events`) open at once, over all widgets;
    /// more are refused with 503 + Retry-After (and a widget falls back to reading the
    /// conversation again when it next opens).
    pub max_streams: usize,
    /// Origins of store pages whose chat widget may call the API from the browser
    /// (`https://shop.example`), or `"*"` for any. The service's own pages need no entry.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies in front of the service (addresses or networks: `["127.0.0.1"]`,
    /// `["10.0.0.0/8"]`). A request from one of them is counted, by the per-address rate
    /// limits, against the client it names in `X-Forwarded-For`; from any other peer that
    /// header is ignored. Empty (the default): the connection's own address counts.
    pub trusted_proxies: Vec<Network>,
    /// Connections open at once; more are closed as soon as they are accepted. Keep it below
    /// the process's file-descriptor limit (`ulimit -n`), with room for the database and index.
    pub max_connections: usize,
    /// Connections open at once from one client address (a trusted proxy is not limited).
    pub max_connections_per_client: usize,
    /// A connection must send a request's headers within this long of opening, or of its last
    /// response when kept alive; otherwise it is closed (slow or idle clients).
    pub header_timeout_secs: u64,
    /// `/v1/answer`'s body must arrive within this long of its headers; otherwise 408. Only a
    /// request whose body has arrived takes one of `max_in_flight`.
    pub body_timeout_secs: u64,
}

/// An address or a network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`), as
/// `server.trusted_proxies` lists them. An IPv4-mapped IPv6 peer matches as its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Network(ipnet::IpNet);

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("{s:?} is not an IP address or a network like \"10.0.0.0/8\"");
        let net = match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr = addr
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| bad())?
                    .to_canonical();
                ipnet::IpNet::new(addr, prefix.parse().map_err(|_| bad())?).map_err(|_| bad())?
            }
            None => ipnet::IpNet::from(
                s.parse::<std::net::IpAddr>()
                    .map_err(|_| bad())?
                    .to_canonical(),
            ),
        };
        Ok(Network(net))
    }
}

impl TryFrom<String> for Network {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Network> for String {
    fn from(n: Network) -> String {
        n.to_string()
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A single address is written as it was given, without its /32 or /128.
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Network {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("."),
            kb_dir: PathBuf::from("kb"),
            index_dir: None,
            model: ModelConfig::default(),
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            identity: IdentityConfig::default(),
            gate: GateConfig::default(),
            policy: PolicyConfig::default(),
            admin: AdminConfig::default(),
            privacy: PrivacyConfig::default(),
            webhook: WebhookConfig::default(),
            handoff: HandoffConfig::default(),
            email: EmailConfig::default(),
            learn: LearnConfig::default(),
            platform: PlatformConfig::default(),
            demo: false,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            name: "Larkfield Goods".into(),
            greeting: "Hi there!".into(),
            sign_off: "— The Larkfield Goods team".into(),
            tone: "friendly".into(),
            support_email: "help@larkfield.example".into(),
            support_hours: "Monday–Friday 8am–8pm and Saturday 9am–5pm Pacific".into(),
            timezone: "America/Los_Angeles".into(),
            currency: "USD".into(),
            product_url: String::new(),
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            allow_email_only: false,
            allow_name_postcode: false,
            allow_order_postcode: false,
            allow_user_id_postcode: false,
            token_secret: String::new(),
            max_failures_per_conversation: 3,
            max_failures_per_client: 10,
            max_failures_per_order: 5,
            failure_window_secs: 600,
        }
    }
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            min_intent_confidence: 0.45,
            min_dense: 0.35,
            strong_dense: 0.7,
            min_coverage: 0.5,
            product_min_dense: None,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            dir: None,
            models_root: PathBuf::from("models"),
            allow_hub: true,
            max_concurrent: 64,
            max_batch: 64,
            cache_entries: 4096,
            precision: Default::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            index_refresh_secs: 2,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            max_in_flight: 128,
            max_streams: 2000,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            max_connections: 8192,
            max_connections_per_client: 256,
            header_timeout_secs: 10,
            body_timeout_secs: 10,
        }
    }
}

impl Config {
    /// Defaults, then the file (if `path` is given, or `./shopkeep.toml` exists), then env.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => Self::from_file(p)?,
            None if Path::new("shopkeep.toml").is_file() => {
                Self::from_file(Path::new("shopkeep.toml"))?
            }
            None => Self::default(),
        };
        cfg.apply_env(|name| std::env::var(name).ok())?;
        cfg.validate()?;
        if cfg.gate.product_min_dense.is_some() {
            tracing::warn!("gate.product_min_dense is no longer used (the answer selector decides product-page answers); remove it from the config file");
        }
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Applies `SHOPKEEP_*` variables through `get` (a parameter so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, v: String) -> Result<T, ConfigError> {
            v.parse().map_err(|_| ConfigError::Env {
                name: name.into(),
                message: format!("cannot parse {v:?}"),
            })
        }
        if let Some(v) = get("SHOPKEEP_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("SHOPKEEP_KB_DIR") {
            self.kb_dir = v.into();
        }
        if let Some(v) = get("SHOPKEEP_INDEX_DIR") {
            self.index_dir = Some(v.into());
        }
        if let Some(v) = get("SHOPKEEP_MODEL_DIR") {
            self.model.dir = Some(v.into());
        }
        if let Some(v) = get("SHOPKEEP_MODELS_ROOT") {
            self.model.models_root = v.into();
        }
        if let Some(v) = get("SHOPKEEP_ALLOW_HUB") {
            self.model.allow_hub = parse("SHOPKEEP_ALLOW_HUB", v)?;
        }
        if let Some(v) = get("SHOPKEEP_MODEL_PRECISION") {
            self.model.precision = parse("SHOPKEEP_MODEL_PRECISION", v)?;
        }
        if let Some(v) = get("SHOPKEEP_HOST") {
            self.server.host = v;
        }
        if let Some(v) = get("SHOPKEEP_TOKEN_SECRET") {
            self.identity.token_secret = v;
        }
        if let Some(v) = get("SHOPKEEP_POLICY") {
            self.policy.profile = v;
        }
        if let Some(v) = get("SHOPKEEP_PORT") {
            self.server.port = parse("SHOPKEEP_PORT", v)?;
        }
        if let Some(v) = get("SHOPKEEP_ALLOWED_ORIGINS") {
            self.server.allowed_origins = v
                .split([',', ' '])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = get("SHOPKEEP_TRUSTED_PROXIES") {
            self.server.trusted_proxies = v
                .split([',', ' '])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| {
                    o.parse().map_err(|message| ConfigError::Env {
                        name: "SHOPKEEP_TRUSTED_PROXIES".into(),
                        message,
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("SHOPKEEP_ADMIN_TOKEN") {
            self.admin.api_token = v;
        }
        if let Some(v) = get("SHOPKEEP_WEBHOOK_URL") {
            self.webhook.url = v;
        }
        if let Some(v) = get("SHOPKEEP_WEBHOOK_SECRET") {
            self.webhook.secret = v;
        }
        if let Some(v) = get("SHOPKEEP_RETENTION_DAYS") {
            self.privacy.retention_days = parse("SHOPKEEP_RETENTION_DAYS", v)?;
        }
        let e = &mut self.email;
        for (name, field) in [
            ("SHOPKEEP_EMAIL_STORE_ADDRESS", &mut e.store_address),
            ("SHOPKEEP_EMAIL_HELPDESK_ADDRESS", &mut e.helpdesk_address),
            ("SHOPKEEP_EMAIL_SMTP_HOST", &mut e.smtp_host),
            ("SHOPKEEP_EMAIL_SMTP_USERNAME", &mut e.smtp_username),
            ("SHOPKEEP_EMAIL_SMTP_PASSWORD", &mut e.smtp_password),
            ("SHOPKEEP_EMAIL_IMAP_HOST", &mut e.imap_host),
            ("SHOPKEEP_EMAIL_IMAP_USERNAME", &mut e.imap_username),
            ("SHOPKEEP_EMAIL_IMAP_PASSWORD", &mut e.imap_password),
            ("SHOPKEEP_EMAIL_IMAP_MAILBOX", &mut e.imap_mailbox),
            ("SHOPKEEP_EMAIL_INBOUND_SECRET", &mut e.inbound_secret),
            ("SHOPKEEP_EMAIL_AUTHSERV_ID", &mut e.authserv_id),
            ("SHOPKEEP_EMAIL_TLS_CA_FILE", &mut e.tls_ca_file),
        ] {
            if let Some(v) = get(name) {
                *field = v;
            }
        }
        if let Some(v) = get("SHOPKEEP_EMAIL_SMTP_PORT") {
            e.smtp_port = parse("SHOPKEEP_EMAIL_SMTP_PORT", v)?;
        }
        if let Some(v) = get("SHOPKEEP_EMAIL_IMAP_PORT") {
            e.imap_port = parse("SHOPKEEP_EMAIL_IMAP_PORT", v)?;
        }
        if let Some(v) = get("SHOPKEEP_EMAIL_SMTP_TLS") {
            e.smtp_tls = v.parse().map_err(|message| ConfigError::Env {
                name: "SHOPKEEP_EMAIL_SMTP_TLS".into(),
                message,
            })?;
        }
        if let Some(v) = get("SHOPKEEP_EMAIL_IMAP_TLS") {
            e.imap_tls = v.parse().map_err(|message| ConfigError::Env {
                name: "SHOPKEEP_EMAIL_IMAP_TLS".into(),
                message,
            })?;
        }
        if let Some(v) = get("SHOPKEEP_EMAIL_POLL_SECS") {
            e.poll_secs = parse("SHOPKEEP_EMAIL_POLL_SECS", v)?;
        }
        if let Some(v) = get("SHOPKEEP_EMAIL_IDLE") {
            e.idle = parse("SHOPKEEP_EMAIL_IDLE", v)?;
        }
        if let Some(v) = get("SHOPKEEP_STORE_TIMEZONE") {
            self.store.timezone = v;
        }
        if let Some(v) = get("SHOPKEEP_STORE_CURRENCY") {
            self.store.currency = v;
        }
        if let Some(v) = get("SHOPKEEP_REPLY_TARGET_MINS") {
            self.admin.reply_target_mins = parse("SHOPKEEP_REPLY_TARGET_MINS", v)?;
        }
        if let Some(v) = get("SHOPKEEP_SECURE_COOKIES") {
            self.admin.secure_cookies = parse("SHOPKEEP_SECURE_COOKIES", v)?;
        }
        if let Some(v) = get("SHOPKEEP_PLATFORM_KIND") {
            self.platform.kind = v.parse().map_err(|message| ConfigError::Env {
                name: "SHOPKEEP_PLATFORM_KIND".into(),
                message,
            })?;
        }
        if let Some(v) = get("SHOPKEEP_PLATFORM_URL") {
            self.platform.url = v;
        }
        if let Some(v) = get("SHOPKEEP_PLATFORM_API_KEY") {
            self.platform.api_key = v;
        }
        if let Some(v) = get("SHOPKEEP_PLATFORM_EVENTS_SECRET") {
            self.platform.events_secret = v;
        }
        if let Some(v) = get("SHOPKEEP_PLATFORM_TIMEOUT_SECS") {
            self.platform.timeout_secs = parse("SHOPKEEP_PLATFORM_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("SHOPKEEP_PLATFORM_API_VERSION") {
            self.platform.api_version = v;
        }
        if let Some(v) = get("SHOPKEEP_PRODUCT_URL") {
            self.store.product_url = v;
        }
        if let Some(v) = get("SHOPKEEP_DEMO") {
            self.demo = parse("SHOPKEEP_DEMO", v)?;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if jiff::tz::TimeZone::get(self.store.timezone.trim()).is_err() {
            return Err(ConfigError::Invalid(format!(
                "store.timezone: {:?} is not an IANA time zone name (such as \"Europe/Berlin\" or \"UTC\")",
                self.store.timezone
            )));
        }
        if crate::money::Currency::from_code(&self.store.currency).is_none() {
            return Err(ConfigError::Invalid(format!(
                "store.currency: {:?} is not an ISO 4217 currency code (such as \"EUR\")",
                self.store.currency
            )));
        }
        if self.admin.reply_target_mins == 0 {
            return Err(ConfigError::Invalid(
                "admin.reply_target_mins must be at least 1".into(),
            ));
        }
        if self.model.max_concurrent == 0 {
            return Err(ConfigError::Invalid(
                "model.max_concurrent must be at least 1".into(),
            ));
        }
        if self.model.max_batch == 0 {
            return Err(ConfigError::Invalid(
                "model.max_batch must be at least 1".into(),
            ));
        }
        if self.server.max_in_flight == 0 {
            return Err(ConfigError::Invalid(
                "server.max_in_flight must be at least 1".into(),
            ));
        }
        if self.server.max_streams == 0 {
            return Err(ConfigError::Invalid(
                "server.max_streams must be at least 1".into(),
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.max_body_bytes must be at least 1024".into(),
            ));
        }
        for origin in &self.server.allowed_origins {
            if !is_origin(origin) {
                return Err(ConfigError::Invalid(format!("server.allowed_origins: {origin:?} is not an origin like \"https://shop.example\" (scheme and host, no path) or \"*\"")));
            }
        }
        if self.server.max_connections == 0
            || self.server.max_connections_per_client == 0
            || self.server.header_timeout_secs == 0
            || self.server.body_timeout_secs == 0
        {
            return Err(ConfigError::Invalid("server.max_connections, max_connections_per_client, header_timeout_secs and body_timeout_secs must be at least 1".into()));
        }
        if !self.webhook.url.is_empty() {
            if !(self.webhook.url.starts_with("http://")
                || self.webhook.url.starts_with("https://"))
            {
                return Err(ConfigError::Invalid(format!(
                    "webhook.url: {:?} must start with http:// or https://",
                    self.webhook.url
                )));
            }
            if self.webhook.secret.chars().count() < MIN_ADMIN_TOKEN_CHARS {
                return Err(ConfigError::Invalid(format!("webhook.secret must be at least {MIN_ADMIN_TOKEN_CHARS} characters when webhook.url is set (the helpdesk checks the signature with it)")));
            }
            if self.webhook.max_attempts == 0 || self.webhook.timeout_secs == 0 {
                return Err(ConfigError::Invalid(
                    "webhook.max_attempts and webhook.timeout_secs must be at least 1".into(),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.learn.similarity)
            || !(0.0..=1.0).contains(&self.learn.low_confidence_dense)
        {
            return Err(ConfigError::Invalid(
                "learn.similarity and learn.low_confidence_dense must be between 0 and 1".into(),
            ));
        }
        if !self.admin.api_token.is_empty()
            && self.admin.api_token.chars().count() < MIN_ADMIN_TOKEN_CHARS
        {
            return Err(ConfigError::Invalid(format!(
                "admin.api_token must be at least {MIN_ADMIN_TOKEN_CHARS} characters"
            )));
        }
        let e = &self.email;
        for (key, address) in [
            ("email.store_address", &e.store_address),
            ("email.helpdesk_address", &e.helpdesk_address),
        ] {
            if !address.is_empty() && address_domain(address).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "{key}: {address:?} is not an email address"
                )));
            }
        }
        if !e.imap_host.is_empty() && e.store_address.is_empty() {
            return Err(ConfigError::Invalid(
                "email.imap_host is set but email.store_address is not (replies need a From)"
                    .into(),
            ));
        }
        // A mailbox password in the clear is readable by anything on the path; only a server on
        // this machine may be spoken to without TLS when a password is sent.
        if !e.smtp_host.is_empty()
            && e.smtp_tls == TlsMode::None
            && !e.smtp_username.is_empty()
            && !is_loopback_host(&e.smtp_host)
        {
            return Err(ConfigError::Invalid(format!(
                "email.smtp_tls is \"none\" but a password would go to {} in the clear; set email.smtp_tls = \"starttls\" (port 587) or \"tls\" (port 465)",
                e.smtp_host
            )));
        }
        if !e.imap_host.is_empty() && e.imap_tls == TlsMode::None && !is_loopback_host(&e.imap_host)
        {
            return Err(ConfigError::Invalid(format!(
                "email.imap_tls is \"none\" but the mailbox password would go to {} in the clear; set email.imap_tls = \"tls\" (port 993) or \"starttls\" (port 143)",
                e.imap_host
            )));
        }
        // email.tls_ca_file is read by the mail channels when they start (a file is not a
        // setting's shape: it can change between a check here and its use).
        if !e.inbound_secret.is_empty() && e.inbound_secret.chars().count() < MIN_ADMIN_TOKEN_CHARS
        {
            return Err(ConfigError::Invalid(format!(
                "email.inbound_secret must be at least {MIN_ADMIN_TOKEN_CHARS} characters"
            )));
        }
        if self.admin.session_hours == 0
            || self.admin.login_failures == 0
            || self.admin.login_window_secs == 0
        {
            return Err(ConfigError::Invalid("admin.session_hours, admin.login_failures and admin.login_window_secs must be at least 1".into()));
        }
        let p = &self.platform;
        if p.kind != PlatformKind::Embedded {
            let host = p
                .url
                .strip_prefix("https://")
                .or_else(|| p.url.strip_prefix("http://"))
                .map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
            let Some(host) = host.filter(|h| !h.is_empty()) else {
                return Err(ConfigError::Invalid(format!(
                    "platform.url: {:?} must be the platform's http:// or https:// address",
                    p.url
                )));
            };
            if p.api_key.trim().is_empty() {
                return Err(ConfigError::Invalid("platform.api_key is empty (Medusa: a secret API key from Settings → Secret API keys; Shopify: the custom app's Admin API access token)".into()));
            }
            if p.kind == PlatformKind::WooCommerce
                && !(p.api_key.starts_with("ck_") && p.api_key.contains(":cs_"))
            {
                return Err(ConfigError::Invalid("platform.api_key: WooCommerce needs the consumer key and secret as ck_…:cs_… (Settings → Advanced → REST API)".into()));
            }
            if p.kind == PlatformKind::Shopify && !is_api_version(&p.api_version) {
                return Err(ConfigError::Invalid(format!(
                    "platform.api_version: {:?} is not a Shopify API version (YYYY-MM, e.g. {:?})",
                    p.api_version, SHOPIFY_API_VERSION
                )));
            }
            // The key opens the store's whole admin: only a server on this machine may get it
            // in the clear.
            let bare = match host.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default(),
                None => host.split(':').next().unwrap_or_default(),
            };
            if p.url.starts_with("http://") && !is_loopback_host(bare) {
                return Err(ConfigError::Invalid(format!("platform.url: {:?} would send the API key in the clear; use https:// (plain http only to this machine)", p.url)));
            }
            if p.timeout_secs == 0 {
                return Err(ConfigError::Invalid(
                    "platform.timeout_secs must be at least 1".into(),
                ));
            }
            if !p.events_secret.is_empty()
                && p.events_secret.chars().count() < MIN_ADMIN_TOKEN_CHARS
            {
                return Err(ConfigError::Invalid(format!(
                    "platform.events_secret must be at least {MIN_ADMIN_TOKEN_CHARS} characters"
                )));
            }
        }
        let url = &self.store.product_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::Invalid(format!(
                "store.product_url: {:?} must be an http:// or https:// address with {{id}} for the product",
                self.store.product_url
            )));
        }
        if !matches!(self.store.tone.as_str(), "friendly" | "formal") {
            return Err(ConfigError::Invalid(format!(
                "store.tone must be \"friendly\" or \"formal\", not {:?}",
                self.store.tone
            )));
        }
        Ok(())
    }

    /// The SQLite database of orders, conversations and actions.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("shopkeep.db")
    }

    /// The index root in effect.
    pub fn index_root(&self) -> PathBuf {
        self.index_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("index"))
    }
}

/// `scheme://host[:port]` exactly as a browser sends it in `Origin` (or `*`). A trailing slash or
/// a path would never match, so it is refused rather than silently ignored.
/// `localhost` or a loopback address: a server on this machine.
/// "2026-10": a Shopify API version's shape (a year and a month), or "unstable".
fn is_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    v == "unstable"
        || (b.len() == 7 && b[4] == b'-' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit))
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_origin(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_comes_from_env_and_its_key_never_travels_in_the_clear() {
        let mut cfg = Config::default();
        assert_eq!(cfg.platform.kind, PlatformKind::Embedded);
        cfg.apply_env(|n| match n {
            "SHOPKEEP_PLATFORM_KIND" => Some("medusa".into()),
            "SHOPKEEP_PLATFORM_URL" => Some("http://127.0.0.1:9000".into()),
            "SHOPKEEP_PLATFORM_API_KEY" => Some("sk_test".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (cfg.platform.kind, cfg.platform.url.as_str()),
            (PlatformKind::Medusa, "http://127.0.0.1:9000")
        );
        assert!(cfg.validate().is_ok());
        cfg.platform.url = "http://shop.example".into();
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("in the clear"));
        cfg.platform.url = "https://shop.example/".into();
        assert!(cfg.validate().is_ok());
        cfg.platform.api_key = String::new();
        assert!(cfg.validate().is_err());
        assert!(Config::default()
            .apply_env(|n| (n == "SHOPKEEP_PLATFORM_KIND").then(|| "magento".into()))
            .is_err());
        let from_file: Config = toml::from_str(
            "[platform]\nkind = \"medusa\"\nurl = \"https://m.example\"\napi_key = \"sk_1\"\n",
        )
        .unwrap();
        assert_eq!(from_file.platform.kind, PlatformKind::Medusa);
    }

    #[test]
    fn the_demo_store_and_shopify_are_asked_for_explicitly() {
        let mut cfg = Config::default();
        assert!(!cfg.demo, "no demo store unless asked");
        assert_eq!(cfg.store.product_url, "");
        cfg.apply_env(|n| match n {
            "SHOPKEEP_DEMO" => Some("true".into()),
            "SHOPKEEP_PRODUCT_URL" => Some("https://shop.example/products/{id}".into()),
            "SHOPKEEP_PLATFORM_KIND" => Some("shopify".into()),
            "SHOPKEEP_PLATFORM_URL" => Some("https://s.myshopify.com".into()),
            "SHOPKEEP_PLATFORM_API_KEY" => Some("shpat_x".into()),
            _ => None,
        })
        .unwrap();
        assert!(cfg.demo);
        assert_eq!(cfg.platform.kind, PlatformKind::Shopify);
        assert_eq!(cfg.platform.api_version, "2026-10");
        assert!(cfg.validate().is_ok());
        cfg.platform.api_version = "latest".into();
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("api_version"));
        cfg.platform.api_version = "2026-10".into();
        cfg.platform.kind = PlatformKind::WooCommerce;
        cfg.platform.api_key = "ck_only".into();
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ck_…:cs_…"));
        cfg.platform.api_key = "ck_1:cs_2".into();
        assert!(cfg.validate().is_ok());
        cfg.store.product_url = "shop.example/{id}".into();
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("product_url"));
    }

    #[test]
    fn file_then_env_override_defaults() {
        let mut cfg: Config = toml::from_str("kb_dir = \"docs\"\n[server]\nport = 9000\n").unwrap();
        assert_eq!(cfg.kb_dir, PathBuf::from("docs"));
        assert_eq!(cfg.server.port, 9000);
        assert_eq!(cfg.server.host, "127.0.0.1");
        cfg.apply_env(|n| (n == "SHOPKEEP_PORT").then(|| "9100".to_string()))
            .unwrap();
        assert_eq!(cfg.server.port, 9100);
        assert_eq!(cfg.index_root(), PathBuf::from("./index"));
    }

    #[test]
    fn the_email_channel_comes_from_env_and_its_addresses_are_checked() {
        let mut cfg = Config::default();
        cfg.apply_env(|n| match n {
            "SHOPKEEP_EMAIL_STORE_ADDRESS" => Some("support@shop.test".into()),
            "SHOPKEEP_EMAIL_IMAP_HOST" => Some("127.0.0.1".into()),
            "SHOPKEEP_EMAIL_IMAP_PORT" => Some("1143".into()),
            "SHOPKEEP_EMAIL_POLL_SECS" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (
                cfg.email.store_address.as_str(),
                cfg.email.imap_port,
                cfg.email.poll_secs
            ),
            ("support@shop.test", 1143, 5)
        );
        assert!(cfg.validate().is_ok());
        cfg.email.helpdesk_address = "not an address".into();
        assert!(cfg.validate().is_err());
        cfg.email.helpdesk_address = String::new();
        cfg.email.store_address = String::new();
        assert!(
            cfg.validate().is_err(),
            "polling without a From for the replies is refused"
        );
    }

    #[test]
    fn a_mailbox_password_never_goes_in_the_clear_off_this_machine() {
        let mut cfg = Config::default();
        cfg.apply_env(|n| match n {
            "SHOPKEEP_EMAIL_STORE_ADDRESS" => Some("support@shop.test".into()),
            "SHOPKEEP_EMAIL_IMAP_HOST" => Some("imap.shop.example".into()),
            "SHOPKEEP_EMAIL_SMTP_HOST" => Some("smtp.shop.example".into()),
            "SHOPKEEP_EMAIL_SMTP_USERNAME" => Some("support@shop.test".into()),
            _ => None,
        })
        .unwrap();
        let e = cfg.validate().unwrap_err().to_string();
        assert!(
            e.contains("email.smtp_tls") && e.contains("smtp.shop.example"),
            "{e}"
        );
        cfg.apply_env(|n| (n == "SHOPKEEP_EMAIL_SMTP_TLS").then(|| "starttls".into()))
            .unwrap();
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("email.imap_tls"), "{e}");
        cfg.apply_env(|n| (n == "SHOPKEEP_EMAIL_IMAP_TLS").then(|| "tls".into()))
            .unwrap();
        assert_eq!(
            (cfg.email.smtp_tls, cfg.email.imap_tls),
            (TlsMode::Starttls, TlsMode::Tls)
        );
        assert!(cfg.validate().is_ok());
        assert!(
            cfg.apply_env(|n| (n == "SHOPKEEP_EMAIL_IMAP_TLS").then(|| "ssl".into()))
                .is_err(),
            "an unknown mode is an error"
        );
        // A server on this machine may be plain.
        cfg.email.imap_tls = TlsMode::None;
        cfg.email.imap_host = "127.0.0.1".into();
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn allowed_origins_and_the_admin_token_come_from_env_and_are_checked() {
        let mut cfg = Config::default();
        cfg.apply_env(|n| match n {
            "SHOPKEEP_ALLOWED_ORIGINS" => {
                Some("https://shop.example, http://localhost:3000".into())
            }
            "SHOPKEEP_ADMIN_TOKEN" => Some("a-long-enough-admin-token".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            cfg.server.allowed_origins,
            ["https://shop.example", "http://localhost:3000"]
        );
        assert!(cfg.validate().is_ok());
        cfg.server.allowed_origins = vec!["https://shop.example/".into()];
        assert!(
            cfg.validate().is_err(),
            "a path never matches an Origin header"
        );
        cfg.server.allowed_origins = vec!["*".into()];
        cfg.admin.api_token = "short".into();
        assert!(cfg.validate().is_err(), "a short admin token is refused");
    }

    #[test]
    fn trusted_proxies_come_from_env_and_are_checked() {
        let mut cfg = Config::default();
        cfg.apply_env(|n| {
            (n == "SHOPKEEP_TRUSTED_PROXIES").then(|| "127.0.0.1, 10.0.0.0/8".into())
        })
        .unwrap();
        assert_eq!(
            cfg.server.trusted_proxies,
            ["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]
        );
        assert!(cfg.validate().is_ok());
        let e = Config::default()
            .apply_env(|n| (n == "SHOPKEEP_TRUSTED_PROXIES").then(|| "my-proxy.internal".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SHOPKEEP_TRUSTED_PROXIES") && e.contains("my-proxy.internal"),
            "{e}"
        );
        let e = toml::from_str::<Config>("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("10.0.0.0/33"),
            "a file with a bad network does not load: {e}"
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let n: Network = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.3.4")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(
            !n.contains(ip("::1")),
            "an IPv6 address is never in an IPv4 network"
        );
        let one: Network = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")));
        assert!(
            one.contains(ip("::ffff:127.0.0.1")),
            "an IPv4-mapped peer is the IPv4 address"
        );
        assert!(!one.contains(ip("127.0.0.2")));
        assert_eq!(one.to_string(), "127.0.0.1");
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "localhost", "10.0.0/8", "", "::1/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn a_retired_setting_still_loads_and_is_not_written_back() {
        // Config files written for 0.1 set gate.product_min_dense; it no longer does anything,
        // but such a file must keep loading (unknown keys are errors).
        let cfg: Config =
            toml::from_str("[gate]\nproduct_min_dense = 0.7\nmin_dense = 0.4\n").unwrap();
        assert_eq!(cfg.gate.product_min_dense, Some(0.7));
        assert_eq!(cfg.gate.min_dense, 0.4);
        assert!(!toml::to_string(&cfg).unwrap().contains("product_min_dense"));
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(toml::from_str::<Config>("kb_dri = \"x\"").is_err());
        let mut cfg = Config::default();
        assert!(cfg
            .apply_env(|n| (n == "SHOPKEEP_PORT").then(|| "eighty".to_string()))
            .is_err());
    }
}

// --- Typed values the settings hold (the channels and the model use them as they are) -------

/// How a connection to a mail server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text: only for a server on this machine (the config refuses a password sent in
    /// the clear to any other host).
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS before anything else is said (SMTP 587 or 25,
    /// IMAP 143). A server that does not offer it is an error, never a silent fallback.
    Starttls,
    /// TLS from the first byte (SMTP 465, IMAP 993).
    Tls,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            other => Err(format!(
                "{other:?} is not a TLS mode (none, starttls or tls)"
            )),
        }
    }
}

/// The numeric precision of the CPU forward pass's matrix products.
///
/// `fp32` is exact to the reference (cosine ≥ 0.9999). `int8` quantises weights per column and
/// activations per row and multiplies bytes: with AVX-512 VNNI or AVX-VNNI (`vpdpbusd`), or on
/// plain AVX2 with `vpmaddubsw` + `vpmaddwd` (7-bit weights): several times fewer instructions
/// per product and a quarter of the weight bytes, vectors within cosine 0.99 of fp32 (tested),
/// close enough that an index built with one serves questions embedded with the other. On the
/// portable kernels (no AVX2), `int8` runs as `fp32`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(Self::Fp32),
            "int8" | "i8" => Ok(Self::Int8),
            other => Err(format!("unknown precision {other:?} (fp32 or int8)")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Int8 => "int8",
        })
    }
}

/// The domain of an address ("support@shop.test" → "shop.test"); `None` for anything that
/// isn't `local@domain`.
pub fn address_domain(address: &str) -> Option<&str> {
    let (local, domain) = address.trim().rsplit_once('@')?;
    let ok = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
    };
    (ok(local) && ok(domain) && domain.contains('.')).then_some(domain)
}

/// The Shopify Admin API version requests are pinned to unless `platform.api_version` says
/// otherwise.
pub const SHOPIFY_API_VERSION: &str = "2026-10";
