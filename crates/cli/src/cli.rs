//! The command line: commands, flags, the environment variables behind them, and `--help`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Shown at the end of `zoho-oauth --help`.
const MAIN_AFTER_HELP: &str = "\
Examples:
  zoho-oauth login --dc eu                     # authorize in the browser, save the tokens
  curl -H \"Authorization: Zoho-oauthtoken $(zoho-oauth token)\" https://www.zohoapis.eu/crm/v8/users?type=CurrentUser
  zoho-oauth status                            # what is saved, and until when it is valid

Configuration, highest precedence first:
  1. flags, such as --client-id or --dc
  2. environment variables: ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_DC, ZOHO_ENVIRONMENT,
     ZOHO_ACCOUNTS_URL, ZOHO_TRUST_ACCOUNTS_URLS, ZOHO_SCOPES, ZOHO_SOID, ZOHO_REDIRECT_HOST,
     ZOHO_REDIRECT_PORT, ZOHO_REDIRECT_PATH, ZOHO_OAUTH_PROFILE, ZOHO_OAUTH_CONFIG, ZOHO_OAUTH_STORE,
     ZOHO_STORE_URL, ZOHO_ENCRYPTION_KEY_FILE, ZOHO_OAUTH_REFRESH_MARGIN
  3. the config file (default: config.toml in the platform's config directory, e.g.
     ~/.config/zoho-oauth/config.toml), top-level keys for every profile, [profiles.NAME] for one
The client secret is never a flag: it comes from ZOHO_CLIENT_SECRET, from the config file (which must then
be readable by its owner only, chmod 600), or from a prompt that does not echo.

Exit codes:
  0    success
  1    failure not listed below (consent declined in the browser or on the device, state mismatch, a refusal
       by Zoho, login timed out or its device code expired)
  2    usage: unknown command or flag, or an invalid value
  3    login needed: no saved tokens, a used or expired code, a revoked refresh token
  4    rate limited by Zoho: wait until the time the message names
  5    network: the accounts server could not be reached or answered nonsense; try again later
  6    configuration or token store: missing client id or secret, unsafe permissions, malformed file,
       a client Zoho does not accept
  130  interrupted (Ctrl-C)

Run `zoho-oauth COMMAND --help` for each command's flags and examples.";

/// Log in to Zoho once, then hand fresh access tokens to scripts, cron jobs and CI.
///
/// Tokens are saved in a private token file and refreshed ahead of expiry; processes sharing the
/// file refresh once between them, so Zoho's rate limit is never hit by accident.
#[derive(Debug, Parser)]
#[command(name = "zoho-oauth", version, arg_required_else_help = true, after_long_help = MAIN_AFTER_HELP, after_help = "Run `zoho-oauth --help` for examples, configuration and exit codes.")]
pub struct Cli {
    /// The options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// A name for one user, org or environment; each profile has its own tokens [default: default]
    #[arg(long, short = 'p', global = true, env = "ZOHO_OAUTH_PROFILE", hide_env_values = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// The client id from Zoho's API console
    #[arg(long, global = true, env = "ZOHO_CLIENT_ID", hide_env_values = true, value_name = "ID")]
    pub client_id: Option<String>,

    /// Zoho data center to start at: us, eu, in, au, jp, cn, ca, sa, uk [default: us]
    #[arg(long, global = true, env = "ZOHO_DC", hide_env_values = true, value_name = "DC")]
    pub dc: Option<String>,

    /// production, sandbox or developer [default: production]
    #[arg(long, global = true, env = "ZOHO_ENVIRONMENT", hide_env_values = true, value_name = "ENV")]
    pub environment: Option<String>,

    /// A custom or emulated accounts server (e.g. http://127.0.0.1:4000) instead of the data center's
    #[arg(long, global = true, env = "ZOHO_ACCOUNTS_URL", hide_env_values = true, value_name = "URL")]
    pub accounts_url: Option<String>,

    /// Another accounts server a custom one may hand the login to, as URL or LOCATION=URL (the location
    /// code, such as eu, is how the device flow names it); repeatable; comma-separated in the variable
    #[arg(
        long = "trust-accounts-url",
        global = true,
        env = "ZOHO_TRUST_ACCOUNTS_URLS",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub trust_accounts_urls: Vec<String>,

    /// The config file [default: config.toml in the platform's config directory]
    #[arg(long, global = true, env = "ZOHO_OAUTH_CONFIG", hide_env_values = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The token file, or a PostgreSQL database as postgres://USER@HOST/DB (also ZOHO_STORE_URL)
    /// [default: tokens.json in the platform's data directory]
    #[arg(long, global = true, env = "ZOHO_OAUTH_STORE", hide_env_values = true, value_name = "FILE|URL")]
    pub store: Option<PathBuf>,

    /// Encrypt the tokens in the store with the 32-byte key in this file (chmod 600)
    #[arg(long, global = true, env = "ZOHO_ENCRYPTION_KEY_FILE", hide_env_values = true, value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,

    /// Renew the access token when it has less than this left [default: 300]
    #[arg(long, global = true, env = "ZOHO_OAUTH_REFRESH_MARGIN", hide_env_values = true, value_name = "SECONDS")]
    pub refresh_margin: Option<u32>,

    /// Log what the tool does on stderr; -vv for details. Secrets are never logged
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Refused: a secret on the command line lands in shell history and process lists.
    #[arg(long, global = true, hide = true, num_args = 0..=1, value_name = "SECRET")]
    pub client_secret: Option<Option<String>>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Authorize in the browser (or on another device, with a self-client code or with client
    /// credentials) and save the tokens
    #[command(after_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Print a valid access token on stdout and nothing else, refreshing it when needed
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(TokenArgs),
    /// Show each saved profile: data center, API domain, scopes, expiry; never a secret
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Revoke the profile's refresh token at Zoho and delete its tokens here
    #[command(after_help = REVOKE_EXAMPLES)]
    Revoke,
    /// Delete the profile's tokens here; with --revoke, end the grant at Zoho first
    #[command(after_help = LOGOUT_EXAMPLES)]
    Logout(LogoutArgs),
}

const LOGIN_EXAMPLES: &str = "\
Register the redirect URI http://127.0.0.1:8910/callback (or the one set with --redirect-host, --redirect-port
and --redirect-path) for your client in Zoho's API console first; --device, --self-client and
--client-credentials need none.

Examples:
  ZOHO_CLIENT_ID=1000.ABC zoho-oauth login --dc eu
  zoho-oauth login --no-browser --redirect-port 9000 --scopes ZohoCRM.modules.ALL,ZohoCRM.users.READ
  pbpaste | zoho-oauth login --self-client -   # a self-client code from Zoho's API console, read from stdin
  zoho-oauth login --device                    # no browser here: approve with a code on another device
  zoho-oauth login --client-credentials --soid ZohoCRM.12345678   # no user: a one-off job for the org

Give a self-client code as `-` and paste it (or pipe it): on the command line it would show in `ps` and the
shell history. A login over saved tokens revokes the grant it replaces once the new one is saved (Zoho keeps
only 20 refresh tokens per user and client).";

const TOKEN_EXAMPLES: &str = "\
Examples:
  curl -H \"Authorization: Zoho-oauthtoken $(zoho-oauth token)\" https://www.zohoapis.com/crm/v8/Leads
  zoho-oauth token --json | jq -r .api_domain";

const STATUS_EXAMPLES: &str = "\
Examples:
  zoho-oauth status
  zoho-oauth status --profile sandbox --json";

const REVOKE_EXAMPLES: &str = "\
Examples:
  zoho-oauth revoke
  zoho-oauth revoke --profile old-org";

const LOGOUT_EXAMPLES: &str = "\
Examples:
  zoho-oauth logout --revoke                # end the grant at Zoho, then delete the tokens here
  zoho-oauth logout --profile old-org       # delete the tokens here only";

/// `login`'s options.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Only print the authorization URL; open it in a browser yourself
    #[arg(long)]
    pub no_browser: bool,

    /// Exchange a code generated for a self client in Zoho's API console instead; give `-` to read it
    /// from stdin, so that it never shows in `ps` or the shell history
    #[arg(long, value_name = "CODE", conflicts_with_all = ["device", "client_credentials"])]
    pub self_client: Option<String>,

    /// Authorize on another device instead: show a URL and a code to enter there, and wait for the
    /// approval (for machines without a browser, such as a server reached over ssh)
    #[arg(long, conflicts_with_all = ["no_browser", "client_credentials"])]
    pub device: bool,

    /// Get a token for the org with the client's own credentials, no user involved (a self client's
    /// id and secret; needs --soid); renewed by asking again at expiry
    #[arg(long)]
    pub client_credentials: bool,

    /// The org a client-credentials token is for, as ZohoCRM.ORG_ID (the org id shown in Zoho CRM)
    #[arg(long, env = "ZOHO_SOID", hide_env_values = true, value_name = "SERVICE.ORG_ID")]
    pub soid: Option<String>,

    /// Scopes to ask for, comma-separated [default: ZohoCRM.modules.ALL,ZohoCRM.users.READ]
    #[arg(long, env = "ZOHO_SCOPES", hide_env_values = true, value_delimiter = ',', value_name = "SCOPES")]
    pub scopes: Vec<String>,

    /// The host of the registered redirect URI; a loopback address [default: 127.0.0.1]
    #[arg(long, env = "ZOHO_REDIRECT_HOST", hide_env_values = true, value_name = "HOST")]
    pub redirect_host: Option<String>,

    /// The port of the registered redirect URI [default: 8910]
    #[arg(long, env = "ZOHO_REDIRECT_PORT", hide_env_values = true, value_name = "PORT")]
    pub redirect_port: Option<u16>,

    /// The path of the registered redirect URI [default: /callback]
    #[arg(long, env = "ZOHO_REDIRECT_PATH", hide_env_values = true, value_name = "PATH")]
    pub redirect_path: Option<String>,

    /// Give up waiting for the browser after this many seconds (at most a day); a --device login
    /// waits until its code expires instead
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400), value_name = "SECONDS")]
    pub timeout: u64,
}

/// `token`'s options.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print JSON with the token, its expiry and the API domain
    #[arg(long)]
    pub json: bool,
}

/// `status`'s options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `logout`'s options.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Revoke the grant at Zoho first (as `revoke` does); nothing is deleted if that fails
    #[arg(long)]
    pub revoke: bool,
}
