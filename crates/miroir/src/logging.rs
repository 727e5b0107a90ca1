//! Where `miroir`'s tracing events go: log lines on standard error, filtered by `MIROIR_LOG`
//! (default `info`), as text or JSON lines (`--log-format`); and, in a binary built with the
//! `otlp` feature, every span exported to an OpenTelemetry collector over OTLP/HTTP
//! (`--otlp-endpoint`). The exporter is a cargo feature because its dependencies (the
//! OpenTelemetry SDK, protobuf) would otherwise weigh on every build for a few deployments.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::LogFormat;

/// Keeps the span exporter running; dropping it flushes the spans not yet sent.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("otlp: spans not flushed: {error}");
            }
        }
    }
}

/// Installs the log lines (and the span exporter when `otlp_endpoint` is given).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_env("MIROIR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (export, telemetry) = exporter(otlp_endpoint)?;
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(export)
        .try_init()?;
    Ok(telemetry)
}

#[cfg(feature = "otlp")]
fn exporter<S>(endpoint: Option<&str>) -> anyhow::Result<(Option<impl Layer<S>>, Telemetry)>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;

    let Some(endpoint) = endpoint else {
        return Ok((None, Telemetry { provider: None }));
    };
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| anyhow::anyhow!("otlp_endpoint: {e}"))?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("miroir")
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("miroir"));
    Ok((
        Some(layer),
        Telemetry {
            provider: Some(provider),
        },
    ))
}

#[cfg(not(feature = "otlp"))]
fn exporter<S>(endpoint: Option<&str>) -> anyhow::Result<(Option<impl Layer<S>>, Telemetry)>
where
    S: tracing::Subscriber,
{
    if endpoint.is_some() {
        anyhow::bail!(
            "otlp_endpoint: this miroir was built without the `otlp` feature \
             (cargo build --release -p miroir --features otlp)"
        );
    }
    Ok((None::<tracing_subscriber::layer::Identity>, Telemetry {}))
}
