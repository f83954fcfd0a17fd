//! The command line. `keyward serve|init|migrate|backup` run the server side;
//! every other verb is a client of a running server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keyward: issue, verify, list and revoke API tokens.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "Exit codes: 0 success; 1 server or unexpected error; 2 bad usage or input; \
3 not authenticated or not permitted; 4 not found; 5 conflict; 6 `verify`: the token is not valid; \
7 the server could not be reached.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creating the database and the first admin token on first start).
    Serve(ServeArgs),
    /// Create the database and the first admin token, then exit.
    Init(StoreArgs),
    /// Apply pending database migrations, then exit.
    Migrate(StoreArgs),
    /// Write a consistent copy of the embedded SQLite database to a new file, while the server runs.
    Backup(BackupArgs),
    /// Work on the store directly when no admin credential is left.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Issue, list, show, revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create, list, show keyspaces.
    #[command(subcommand)]
    Keyspace(KeyspaceCommand),
    /// Create, list, show organizations (tenants).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Show or replace the organization's token policy, and list tokens that break it.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Invite people, list members, change roles, remove members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Create, list, remove service accounts (owners of tokens that outlive any member).
    #[command(subcommand, name = "service-account")]
    ServiceAccount(ServiceAccountCommand),
    /// Register, list, remove webhook endpoints, and read their delivery logs.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Verify a token (read from standard input when not given, so it stays out of shell history).
    Verify(VerifyArgs),
    /// Show the audit log.
    Audit(AuditArgs),
    /// Check a management token against a server and store both for later commands (file mode 0600).
    Login(LoginArgs),
    /// Forget the stored login (the token itself stays valid: revoke it to end it).
    Logout,
    /// Show who the management token acts as: its name, organization, role, scopes and expiry.
    Whoami(WhoamiArgs),
    /// Exit 0 when the server is ready (`/readyz`), or alive with --live: for health checks.
    Ready(ReadyArgs),
    /// Print a shell completion script: `keyward completions bash > /etc/bash_completion.d/keyward`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    Man(ManArgs),
}

/// Where the server keeps its data. Settings also come from the config file and `KEYWARD_*` variables.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// TOML configuration file [env: KEYWARD_CONFIG]
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite database (default ./keyward-data) [config: data_dir]
    #[arg(long, value_name = "DIR", conflicts_with = "database_url")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, e.g. postgres://user@host/db [config: database_url; secret-friendly: KEYWARD_DATABASE_URL_FILE]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Write the first admin token to this new file (mode 0600) instead of printing it; an initialized store leaves it alone [config: admin_token_file]
    #[arg(long, value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (default 127.0.0.1:8420; port 0 picks a free one) [config: listen]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Mint a new admin token from the store itself (the data directory, or the database URL), audited as
    /// `admin.recovered`: the way back in when every admin token is lost. Stop `keyward serve` first when
    /// it runs on the embedded SQLite store.
    Recover(RecoverArgs),
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The organization (org_…) whose admin token is lost (default: the operator organization)
    #[arg(long, value_name = "ORG")]
    pub organization: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The new backup file (mode 0600); an existing file is never replaced
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

/// The address client verbs use when neither a flag, KEYWARD_ADDR nor a stored login names one.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8420";

/// How client verbs reach the server. Flags win over the environment, which
/// wins over the login stored by `keyward login`.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Server address (default: the stored login's, else http://127.0.0.1:8420)
    #[arg(long, env = "KEYWARD_ADDR", value_name = "URL", global = true)]
    pub addr: Option<String>,
    /// Management token (prefer KEYWARD_TOKEN_FILE, the environment or `keyward login` over this flag)
    #[arg(long, env = "KEYWARD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// File holding the management token
    #[arg(long, env = "KEYWARD_TOKEN_FILE", value_name = "PATH", global = true)]
    pub token_file: Option<PathBuf>,
    /// Print JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only this field of the JSON output, strings bare (like `jq -r`): `id`,
    /// `organization.name`, `data.0.id`. Implies --json
    #[arg(long, value_name = "PATH", global = true, value_parser = parse_field_path)]
    pub field: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server address (default http://127.0.0.1:8420)
    #[arg(long, env = "KEYWARD_ADDR", value_name = "URL")]
    pub addr: Option<String>,
    /// Read the management token from this file; otherwise it is read from
    /// standard input, or asked for without echo on a terminal
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ReadyArgs {
    /// Server address (default: the stored login's, else http://127.0.0.1:8420)
    #[arg(long, env = "KEYWARD_ADDR", value_name = "URL")]
    pub addr: Option<String>,
    /// Only check that the process answers (`/healthz`), not that its store works
    #[arg(long)]
    pub live: bool,
    /// Give up after this long: 5s, 1m
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: i64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write keyward.1 and one page per command (keyward-token-create.1, …) into this directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token. Its secret is printed once (alone on stdout when piped).
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Keyspace id (ks_…) or its exact name
        #[arg(long)]
        keyspace: String,
        /// Human name
        #[arg(long)]
        name: String,
        /// Scope to grant; repeat for several. Required unless --no-scopes.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Grant no scope at all: a token that proves who calls and may do nothing
        /// scoped (said explicitly, so a forgotten --scope is not a silent zero-scope token)
        #[arg(long, conflicts_with = "scopes")]
        no_scopes: bool,
        /// Owning principal (default: your token's owner)
        #[arg(long)]
        owner: Option<String>,
        /// Lifetime: 3600, 90s, 15m, 12h, 30d
        #[arg(long, value_name = "DURATION", conflicts_with = "expires_at", value_parser = parse_duration)]
        expires_in: Option<i64>,
        /// Exact expiry (RFC 3339)
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// Metadata as a JSON object
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        /// Allow use only from this network (CIDR or address, IPv4 or IPv6); repeat for several
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allowed_ips: Vec<String>,
        /// Rotate it at least this often: 30 or 30d (overrides the organization's period)
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        rotate_every: Option<u32>,
        /// Rotate it automatically when due, delivering the new token to this webhook endpoint (whk_…)
        #[arg(long, value_name = "WEBHOOK")]
        auto_rotate_to: Option<String>,
        /// With --auto-rotate-to: how long the old token keeps working after each rotation (default 1d)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "auto_rotate_to")]
        auto_rotate_grace: Option<i64>,
    },
    /// List tokens, newest first or in the order asked.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Only tokens of this keyspace (its id, ks_…, or its exact name)
        #[arg(long)]
        keyspace: Option<String>,
        /// Only tokens of this owner: an id (usr_…, sa_…), a member's email, or free text
        #[arg(long)]
        owner: Option<String>,
        /// active, expired, disabled or revoked
        #[arg(long)]
        state: Option<String>,
        /// created, expires, last_used or name; a leading `-` for largest
        /// first (default -created)
        #[arg(long, allow_hyphen_values = true)]
        order: Option<String>,
        /// Page size (1-200)
        #[arg(long)]
        limit: Option<u32>,
        /// Continue after a previous page (of the same order)
        #[arg(long)]
        cursor: Option<String>,
        /// Follow every page
        #[arg(long, conflicts_with = "cursor")]
        all: bool,
    },
    /// Show one token (never its secret).
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
    },
    /// Revoke a token, effective immediately.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
        /// Why: user_action (default), policy, leaked or suspicious_activity
        #[arg(long)]
        reason: Option<String>,
        /// Management tokens only: also revoke every management token made
        /// under it, transitively (customer tokens they made stay)
        #[arg(long)]
        with_descendants: bool,
        /// With --with-descendants: also revoke the customer tokens they made
        #[arg(long, requires = "with_descendants")]
        customer_tokens: bool,
    },
    /// Disable a token at once; `token enable` undoes it.
    Disable {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
    },
    /// Enable a disabled token again.
    Enable {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
    },
    /// Delete a token for good (its audit trail stays); revoke keeps the record instead.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
        /// Confirm that the deletion is permanent
        #[arg(long)]
        yes: bool,
    },
    /// Revoke every active token of an owner, keyspace, name prefix or scope in one audited call.
    RevokeAll {
        #[command(flatten)]
        client: ClientArgs,
        /// Only tokens of this owner: an id (usr_…, sa_…), a member's email, or free text
        #[arg(long)]
        owner: Option<String>,
        /// Only tokens of this keyspace (its id, ks_…, or its exact name)
        #[arg(long)]
        keyspace: Option<String>,
        /// Only tokens whose name starts with this
        #[arg(long)]
        name_prefix: Option<String>,
        /// Only tokens holding this exact scope (as granted)
        #[arg(long)]
        scope: Option<String>,
        /// Why: user_action (default), policy, leaked or suspicious_activity
        #[arg(long)]
        reason: Option<String>,
        /// Only count the matching tokens
        #[arg(long)]
        dry_run: bool,
        /// Revoke only if exactly N tokens match (the dry run's count)
        #[arg(long, value_name = "N", conflicts_with = "dry_run")]
        expect: Option<u64>,
    },
    /// Replace a token by a new one (printed once); the old one keeps working for the grace period.
    Rotate {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
        /// How long the old token keeps working: 0 (revoke it now), 90s, 15m, 12h, 7d
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero)]
        grace: i64,
        /// Lifetime of the new token (default: the old token's lifetime): 15m, 12h, 30d
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<i64>,
    },
    /// Extend a rotated token's grace period, or end it now with 0.
    Grace {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…) of the rotated (old) token
        id: String,
        /// When the grace ends, from now: 0 (now), 90s, 15m, 12h, 7d
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero)]
        ends_in: i64,
    },
    /// Opt a token in to automatic rotation (delivered to a webhook), or out with --off.
    AutoRotate {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
        /// The webhook endpoint (whk_…) that receives each new token
        #[arg(long, value_name = "WEBHOOK", required_unless_present = "off", conflicts_with = "off")]
        to: Option<String>,
        /// How long the old token keeps working after each rotation (default 1d)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "off")]
        grace: Option<i64>,
        /// Turn automatic rotation off
        #[arg(long)]
        off: bool,
    },
    /// Clients seen using a rotated token during its grace period.
    Clients {
        #[command(flatten)]
        client: ClientArgs,
        /// Token id (tok_…)
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint; prints its signing secret once.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// Where events are POSTed: https://…, or http://localhost…
        #[arg(long)]
        url: String,
        /// An event type to receive, e.g. token.revoked; repeat for several (none given: all)
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        /// What the endpoint is for
        #[arg(long)]
        description: Option<String>,
    },
    /// List the organization's endpoints.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove an endpoint (what is still queued for it is dropped).
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        /// Endpoint id (whk_…)
        id: String,
    },
    /// Replace an endpoint's signing secret; prints the new one once.
    RotateSecret {
        #[command(flatten)]
        client: ClientArgs,
        /// Endpoint id (whk_…)
        id: String,
        /// How long the old secret keeps signing alongside: 0, 90s, 15m, 12h, 7d (default 1d)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero)]
        overlap: Option<i64>,
    },
    /// Show an endpoint's delivery log, newest first.
    Deliveries {
        #[command(flatten)]
        client: ClientArgs,
        /// Endpoint id (whk_…)
        id: String,
        /// Page size (1-200)
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the token policy.
    Show {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace the whole token policy: a rule not given here is lifted.
    Set {
        #[command(flatten)]
        client: ClientArgs,
        /// Longest lifetime a token may be given: 3600, 15m, 12h, 30d
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_lifetime: Option<i64>,
        /// Lifetime for tokens created without an expiry
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        default_lifetime: Option<i64>,
        /// Every token must expire
        #[arg(long)]
        require_expiry: bool,
        /// A customer scope that may be granted; repeat for several (none given: any)
        #[arg(long = "grantable-scope", value_name = "SCOPE")]
        grantable_scopes: Vec<String>,
        /// Every token must carry an IP allowlist
        #[arg(long)]
        require_ip_allowlist: bool,
        /// Most active tokens one owner may hold
        #[arg(long, value_name = "N")]
        max_active_per_owner: Option<u32>,
        /// Longest grace period a rotation may give (default 7d, at most 90d; 0 forbids any)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero)]
        max_rotation_grace: Option<i64>,
        /// Disable customer tokens unused this long: 90 or 90d (warned before)
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        disable_after_inactive: Option<u32>,
        /// Warn this many days before an expiry or an inactivity disabling; repeat (default 7 and 1)
        #[arg(long = "warn-before", value_name = "DAYS", value_parser = parse_days)]
        warning_days: Vec<u32>,
        /// Send no expiry or inactivity warnings at all
        #[arg(long, conflicts_with = "warning_days")]
        no_warnings: bool,
        /// Every token must be rotated at least this often: 90 or 90d
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        rotation_period: Option<u32>,
    },
    /// List active tokens that break the current policy.
    Violations {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// The roles a membership can have.
pub const ROLES: [&str; 4] = ["owner", "admin", "developer", "viewer"];

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// List members and their roles.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Invite someone by email; prints the single-use invitation secret once.
    Invite {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// How long the invitation stays valid: 3600, 12h, 7d (default 7d, at most 30d)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires_in: Option<i64>,
    },
    /// List pending invitations.
    Invitations {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Withdraw a pending invitation.
    Uninvite {
        #[command(flatten)]
        client: ClientArgs,
        /// Invitation id (inv_…)
        id: String,
    },
    /// Change a member's role.
    Role {
        #[command(flatten)]
        client: ClientArgs,
        /// User id (usr_…)
        user_id: String,
        #[arg(value_parser = ROLES)]
        role: String,
    },
    /// Remove a member; revokes every token they own in the organization.
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        /// User id (usr_…)
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account; issue tokens for it with `token create --owner sa_…`.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        name: String,
    },
    /// List service accounts.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a service account; revokes every token it owns.
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        /// Service account id (sa_…)
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Found an organization (operator only); prints its first admin token once.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        name: String,
    },
    /// List every organization (operator only).
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one organization: your own, or any for the operator.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyspaceCommand {
    /// Create a keyspace.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        name: String,
        /// live or test
        #[arg(long, value_parser = ["live", "test"])]
        environment: String,
        /// Token prefix, 2-12 lowercase letters or digits
        #[arg(long)]
        prefix: Option<String>,
        /// Default token lifetime: 3600, 15m, 12h, 30d
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        default_ttl: Option<i64>,
        /// A scope of its catalog with its description, `invoices:read=Read invoices`;
        /// repeat for several. Without any, tokens may carry any scope.
        #[arg(long = "scope", value_name = "SCOPE=DESCRIPTION", value_parser = parse_catalog_entry)]
        scope_catalog: Vec<(String, String)>,
        /// Rotate its tokens at least this often: 30 or 30d (overrides the organization's period)
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        rotate_every: Option<u32>,
        /// Disable its tokens unused this long: 90 or 90d (overrides the organization's rule)
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        disable_after_inactive: Option<u32>,
        /// When a keyspace of that name exists, print it and succeed (names
        /// are unique per organization), so scripts can run again
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Replace a keyspace's own lifecycle rules; a rule left out falls back to the organization's.
    Lifecycle {
        #[command(flatten)]
        client: ClientArgs,
        /// Keyspace id (ks_…)
        id: String,
        /// Rotate its tokens at least this often: 30 or 30d
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        rotate_every: Option<u32>,
        /// Disable its tokens unused this long: 90 or 90d
        #[arg(long, value_name = "DAYS", value_parser = parse_days)]
        disable_after_inactive: Option<u32>,
    },
    /// Replace a keyspace's scope catalog.
    Scopes {
        #[command(flatten)]
        client: ClientArgs,
        /// Keyspace id (ks_…)
        id: String,
        /// A scope with its description, `invoices:read=Read invoices`; repeat for several
        #[arg(long = "scope", value_name = "SCOPE=DESCRIPTION", value_parser = parse_catalog_entry, required_unless_present = "any")]
        scope_catalog: Vec<(String, String)>,
        /// Remove the catalog: tokens may carry any scope
        #[arg(long, conflicts_with = "scope_catalog")]
        any: bool,
    },
    /// List keyspaces.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one keyspace.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The token, or `-` / nothing to read it from standard input
    #[arg(value_name = "TOKEN")]
    pub presented: Option<String>,
    /// Scope the token must hold; repeat for several
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Address the token was presented from (checked against its IP allowlist)
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<String>,
    /// Keyspace the token must belong to (ks_…)
    #[arg(long, value_name = "KEYSPACE")]
    pub keyspace: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only events by this actor: its id (tok_…, usr_…) or a member's email
    #[arg(long)]
    pub actor: Option<String>,
    /// e.g. token.revoked
    #[arg(long)]
    pub action: Option<String>,
    /// Id of the token or keyspace acted on
    #[arg(long)]
    pub target: Option<String>,
    /// RFC 3339 time
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339 time
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

/// Seconds from `3600`, `90s`, `15m`, `12h` or `30d`.
/// `scope=description`, split at the first `=` (scopes never contain one).
pub fn parse_catalog_entry(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((scope, description)) if !scope.trim().is_empty() && !description.trim().is_empty() => {
            Ok((scope.trim().to_owned(), description.trim().to_owned()))
        }
        _ => Err(format!("expected SCOPE=DESCRIPTION, e.g. invoices:read=Read invoices; got {text:?}")),
    }
}

/// A `--field` path: names or list indexes joined by dots, none empty.
pub fn parse_field_path(text: &str) -> Result<String, String> {
    if !text.is_empty() && text.split('.').all(|step| !step.is_empty()) {
        Ok(text.to_owned())
    } else {
        Err("expected a field name or a dotted path, e.g. id, organization.name or data.0.id".to_owned())
    }
}

pub fn parse_duration(text: &str) -> Result<i64, String> {
    keyward_core::validate::duration_seconds(text)
}

/// A whole number of days, `90` or `90d`.
pub fn parse_days(text: &str) -> Result<u32, String> {
    let digits = text.trim().strip_suffix('d').unwrap_or(text.trim());
    match digits.parse::<u32>() {
        Ok(days) if days > 0 => Ok(days),
        _ => Err("expected a positive whole number of days, e.g. 90 or 90d".to_owned()),
    }
}

/// [`parse_duration`], also admitting 0 (for "now").
pub fn parse_duration_or_zero(text: &str) -> Result<i64, String> {
    match text.trim().trim_end_matches(['s', 'm', 'h', 'd']) {
        "0" => Ok(0),
        _ => parse_duration(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_whole_and_positive() {
        assert_eq!(parse_days("90"), Ok(90));
        assert_eq!(parse_days("90d"), Ok(90));
        assert!(parse_days("0").is_err());
        assert!(parse_days("12h").is_err());
        assert!(parse_days("-3").is_err());
    }

    #[test]
    fn zero_durations_where_they_mean_now() {
        assert_eq!(parse_duration_or_zero("0"), Ok(0));
        assert_eq!(parse_duration_or_zero("0s"), Ok(0));
        assert_eq!(parse_duration_or_zero("7d"), Ok(604_800));
        assert!(parse_duration_or_zero("-1").is_err());
        assert!(parse_duration_or_zero("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn field_paths_have_no_empty_steps() {
        assert_eq!(parse_field_path("data.0.id"), Ok("data.0.id".to_owned()));
        for bad in ["", ".", "a..b", ".id", "id."] {
            assert!(parse_field_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
