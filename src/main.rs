use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOPKEEP_LOG")
                .unwrap_or_else(|_| "shopkeep=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    shopkeep::cli::run(shopkeep::cli::Cli::parse())
}
