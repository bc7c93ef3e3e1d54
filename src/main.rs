//! The `suanli` command: serve (default), migrate, admin create | reset-password,
//! zjmf import.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use suanli::config::{ConfigError, Settings};
use suanli::domain::access::Role;
use suanli::domain::accounts::{UserFields, UserForm};
use suanli::ops::OpsError;
use suanli::ops::nat::ImportError;
use suanli::startup::{Application, StartError, prepare};

#[derive(Parser)]
#[command(name = "suanli", version, about = "Suanli GPU compute rental panel")]
struct Cli {
    /// Settings file (default: ./Settings.toml when present)
    #[arg(long, global = true, env = "SUANLI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the panel (the default)
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage accounts from the shell
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The ZJMF (魔方财务) LXD backend
    #[command(subcommand)]
    Zjmf(ZjmfCommand),
}

#[derive(Subcommand)]
enum ZjmfCommand {
    /// Import the Flask backend's port forwards (its iptables_rules.json) and apply them
    Import {
        #[arg(long)]
        rules: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator; the password is read from stdin (one line)
    Create { username: String },
    /// Set a random password that must be changed at next login, and print it
    ResetPassword { username: String },
}

/// Why a command failed (printed as `suanli: …`).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    /// the server stopped with an error, or stdin could not be read
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// the rule file of `zjmf import`
    #[error("{path}: {source}")]
    Rules {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Import(#[from] ImportError),
    /// `admin create`: the fields refused
    #[error(
        "invalid {}: see the password rule (>= 8 chars, 3 of lower/upper/digit/symbol) and username rule",
        .0.join(", ")
    )]
    InvalidAdmin(Vec<&'static str>),
    #[error(transparent)]
    Ops(#[from] OpsError),
}

#[actix_web::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("suanli: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            Ok(app.run_until_stopped().await?)
        }
        Command::Migrate => {
            prepare(&settings).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Zjmf(ZjmfCommand::Import { rules }) => {
            let text = std::fs::read_to_string(&rules).map_err(|source| CliError::Rules {
                path: rules.clone(),
                source,
            })?;
            let (state, _) = prepare(&settings).await?;
            let report = suanli::ops::nat::import(&state, &text).await?;
            println!("imported {} rule(s), applied", report.imported);
            for (i, why) in &report.skipped {
                println!("skipped entry {i}: {why}");
            }
            Ok(())
        }
        Command::Admin(cmd) => {
            let (state, _) = prepare(&settings).await?;
            match cmd {
                AdminCommand::Create { username } => {
                    let mut password = String::new();
                    std::io::stdin().read_to_string(&mut password)?;
                    let form = UserForm {
                        username,
                        role: Role::Admin.as_str().into(),
                        password: password.trim_end_matches(['\r', '\n']).to_string(),
                        ..UserForm::default()
                    };
                    let (fields, password) = UserFields::parse(&form, true)
                        .map_err(|e| CliError::InvalidAdmin(e.fields().collect()))?;
                    suanli::ops::accounts::create_user(&state, fields, password).await?;
                    println!("administrator created; the password must be changed at first login");
                    Ok(())
                }
                AdminCommand::ResetPassword { username } => {
                    let password =
                        suanli::ops::accounts::reset_password_by_name(&state, &username).await?;
                    println!(
                        "new password for {username}: {password} (must be changed at next login)"
                    );
                    Ok(())
                }
            }
        }
    }
}
