//! Prometheus metrics: one registry per server, every counter the content server exposes,
//! and the text encoding served on `/metrics`.
//!
//! The names answer the operator's first question, "is the cache working?":
//! `mcdata_cache_requests_total{result="hit"|"miss"|"coalesced"|"pass"}` against
//! `mcdata_upstream_fetches_total`, with bytes served and fetched beside them; and the
//! second, "is the store working?": `mcdata_store_errors_total{op}`, `mcdata_store_degraded`
//! and `mcdata_store_bypassed_fills_total`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets of the request latency histograms, in seconds: from a hit on loopback to a
/// long download.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// All metrics of one content server, registered in its own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route, method and status.
    pub requests: IntCounterVec,
    /// Seconds from a request's arrival to its response's last byte, by route.
    pub request_duration: HistogramVec,
    /// Seconds from a request's arrival to its response head, by route.
    pub time_to_first_byte: HistogramVec,
    /// Client connections open now.
    pub open_connections: IntGauge,
    /// Always 1, with the version as a label.
    pub build_info: IntGaugeVec,
    /// The two latency histograms of each route seen so far, found without a lookup in
    /// the vectors (per request).
    route_timers: std::sync::Arc<arc_swap::ArcSwap<Vec<(&'static str, RouteTimers)>>>,
    /// Partner cache lookups by result: hit, miss (started a fill), coalesced (joined a fill), pass.
    pub cache_requests: IntCounterVec,
    /// Upstream fetches started (one per fill).
    pub upstream_fetches: IntCounter,
    /// Revalidations of stale copies by result: not_modified (a 304 freshened the copy),
    /// replaced (a full response replaced it).
    pub cache_revalidations: IntCounterVec,
    /// Upstream fetches that failed, by reason.
    pub upstream_failures: IntCounterVec,
    /// Response body bytes sent to clients, by role (primary, partner).
    pub bytes_served: IntCounterVec,
    /// Body bytes received from primary content servers.
    pub bytes_fetched: IntCounter,
    /// Bytes held in the partner cache.
    pub stored_bytes: IntGauge,
    /// Entries held in the partner cache.
    pub stored_entries: IntGauge,
    /// Cache entries removed, by cause (expired, evicted, purged, replaced).
    pub cache_removals: IntCounterVec,
    /// Duration of fills, from the upstream request to the verdict.
    pub fill_duration: Histogram,
    /// Fills currently running.
    pub fills_in_flight: IntGauge,
    /// Primary: files uploaded.
    pub uploads: IntCounter,
    /// Primary: files held (available).
    pub primary_files: IntGauge,
    /// Primary: successful file retrieves by partner system.
    pub deliveries: IntCounterVec,
    /// Primary: purge requests sent to partners, by system and result (ok, failed).
    pub purges_sent: IntCounterVec,
    /// Primary: purges waiting for retry, by partner system.
    pub purges_pending: IntGaugeVec,
    /// Primary: attempts to tell this system's MCData server of a removal over HTTP, by
    /// result (ok, failed).
    pub removal_notices: IntCounterVec,
    /// Primary: removal notices not yet taken by the MCData server.
    pub removal_notices_pending: IntGauge,
    /// Partner: purge requests received, by result (dropped, absent).
    pub purges_received: IntCounterVec,
    /// Storage errors by operation.
    pub store_errors: IntCounterVec,
    /// 1 while the object store is failing (the partner serves without keeping copies),
    /// back to 0 at the next successful store operation.
    pub store_degraded: IntGauge,
    /// Fills served to their clients without keeping a copy because the store failed.
    pub store_bypassed_fills: IntCounter,
    /// Fills whose file failed mid-body (disk full) and that finished through memory.
    pub fills_in_memory: IntCounter,
    /// MCData server: FD requests from clients, by result.
    pub fd_requests: IntCounterVec,
    /// MCData server: binary messages exchanged with partner MCData servers.
    pub fd_messages: IntCounterVec,
    /// MCData server: events queued for clients, by event name.
    pub fd_events: IntCounterVec,
}

impl Metrics {
    /// Build and register every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let m = Metrics {
            request_duration: HistogramVec::new(
                HistogramOpts::new(
                    "mcdata_http_request_duration_seconds",
                    "Seconds from a request's arrival to its response's last byte, by route",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )?,
            time_to_first_byte: HistogramVec::new(
                HistogramOpts::new(
                    "mcdata_http_time_to_first_byte_seconds",
                    "Seconds from a request's arrival to its response head, by route",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )?,
            open_connections: IntGauge::new(
                "mcdata_open_connections",
                "Client connections open now",
            )?,
            build_info: IntGaugeVec::new(
                Opts::new("mcdata_build_info", "Always 1: the version that runs"),
                &["version"],
            )?,
            route_timers: Default::default(),
            requests: IntCounterVec::new(
                Opts::new(
                    "mcdata_http_requests_total",
                    "HTTP requests by route, method and status",
                ),
                &["route", "method", "status"],
            )?,
            cache_requests: IntCounterVec::new(
                Opts::new(
                    "mcdata_cache_requests_total",
                    "Partner cache lookups by result (hit, miss, coalesced, pass, revalidated)",
                ),
                &["result"],
            )?,
            cache_revalidations: IntCounterVec::new(
                Opts::new(
                    "mcdata_cache_revalidations_total",
                    "Partner revalidations of stale copies by result (not_modified, replaced)",
                ),
                &["result"],
            )?,
            upstream_fetches: IntCounter::new(
                "mcdata_upstream_fetches_total",
                "Upstream fetches (file retrieve requests) started by the partner",
            )?,
            upstream_failures: IntCounterVec::new(
                Opts::new(
                    "mcdata_upstream_failures_total",
                    "Upstream fetches that failed, by reason",
                ),
                &["reason"],
            )?,
            bytes_served: IntCounterVec::new(
                Opts::new(
                    "mcdata_bytes_served_total",
                    "Response body bytes sent to clients",
                ),
                &["role"],
            )?,
            bytes_fetched: IntCounter::new(
                "mcdata_upstream_bytes_total",
                "Body bytes received from primary content servers",
            )?,
            stored_bytes: IntGauge::new(
                "mcdata_cache_stored_bytes",
                "Bytes held in the partner cache",
            )?,
            stored_entries: IntGauge::new(
                "mcdata_cache_entries",
                "Entries held in the partner cache",
            )?,
            cache_removals: IntCounterVec::new(
                Opts::new(
                    "mcdata_cache_removals_total",
                    "Cache entries removed, by cause",
                ),
                &["cause"],
            )?,
            fill_duration: Histogram::with_opts(
                HistogramOpts::new("mcdata_fill_duration_seconds", "Duration of cache fills")
                    .buckets(vec![
                        0.005, 0.02, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    ]),
            )?,
            fills_in_flight: IntGauge::new(
                "mcdata_fills_in_flight",
                "Cache fills currently running",
            )?,
            uploads: IntCounter::new("mcdata_uploads_total", "Files uploaded to this primary")?,
            primary_files: IntGauge::new(
                "mcdata_primary_files",
                "Files available on this primary",
            )?,
            deliveries: IntCounterVec::new(
                Opts::new(
                    "mcdata_deliveries_total",
                    "Successful file retrieves by partner systems, by system",
                ),
                &["system"],
            )?,
            purges_sent: IntCounterVec::new(
                Opts::new(
                    "mcdata_purges_sent_total",
                    "Purge requests sent to partner content servers",
                ),
                &["system", "result"],
            )?,
            removal_notices: IntCounterVec::new(
                Opts::new(
                    "mcdata_removal_notices_total",
                    "Files removed or expired, told to this system's MCData server (mcdata-server)",
                ),
                &["result"],
            )?,
            removal_notices_pending: IntGauge::new(
                "mcdata_removal_notices_pending",
                "Removal notices waiting for the MCData server (mcdata-server) to take them",
            )?,
            purges_pending: IntGaugeVec::new(
                Opts::new(
                    "mcdata_purges_pending",
                    "Purges waiting for a retry, by partner system",
                ),
                &["system"],
            )?,
            purges_received: IntCounterVec::new(
                Opts::new(
                    "mcdata_purges_received_total",
                    "Purge requests received from primaries",
                ),
                &["result"],
            )?,
            store_errors: IntCounterVec::new(
                Opts::new(
                    "mcdata_store_errors_total",
                    "Object storage errors by operation",
                ),
                &["op"],
            )?,
            store_degraded: IntGauge::new(
                "mcdata_store_degraded",
                "1 while the object store fails and the partner serves without keeping copies",
            )?,
            store_bypassed_fills: IntCounter::new(
                "mcdata_store_bypassed_fills_total",
                "Fills streamed to clients without keeping a copy because the store failed",
            )?,
            fills_in_memory: IntCounter::new(
                "mcdata_fills_in_memory_total",
                "Fills whose file failed mid-body (disk full) and that went on through memory",
            )?,
            fd_requests: IntCounterVec::new(
                Opts::new(
                    "mcdata_fd_requests_total",
                    "FD requests from clients, by result",
                ),
                &["result"],
            )?,
            fd_messages: IntCounterVec::new(
                Opts::new(
                    "mcdata_fd_interconnect_messages_total",
                    "Binary FD messages exchanged with partner MCData servers",
                ),
                &["direction", "result"],
            )?,
            fd_events: IntCounterVec::new(
                Opts::new(
                    "mcdata_fd_events_total",
                    "Events queued for clients, by event",
                ),
                &["event"],
            )?,
            registry,
        };
        m.register_all()?;
        Ok(m)
    }

    fn register_all(&self) -> Result<(), prometheus::Error> {
        let r = &self.registry;
        r.register(Box::new(self.requests.clone()))?;
        r.register(Box::new(self.request_duration.clone()))?;
        r.register(Box::new(self.time_to_first_byte.clone()))?;
        r.register(Box::new(self.open_connections.clone()))?;
        r.register(Box::new(self.build_info.clone()))?;
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        r.register(Box::new(self.cache_requests.clone()))?;
        r.register(Box::new(self.upstream_fetches.clone()))?;
        r.register(Box::new(self.cache_revalidations.clone()))?;
        r.register(Box::new(self.upstream_failures.clone()))?;
        r.register(Box::new(self.bytes_served.clone()))?;
        r.register(Box::new(self.bytes_fetched.clone()))?;
        r.register(Box::new(self.stored_bytes.clone()))?;
        r.register(Box::new(self.stored_entries.clone()))?;
        r.register(Box::new(self.cache_removals.clone()))?;
        r.register(Box::new(self.fill_duration.clone()))?;
        r.register(Box::new(self.fills_in_flight.clone()))?;
        r.register(Box::new(self.uploads.clone()))?;
        r.register(Box::new(self.primary_files.clone()))?;
        r.register(Box::new(self.deliveries.clone()))?;
        r.register(Box::new(self.purges_sent.clone()))?;
        r.register(Box::new(self.purges_pending.clone()))?;
        r.register(Box::new(self.removal_notices.clone()))?;
        r.register(Box::new(self.removal_notices_pending.clone()))?;
        r.register(Box::new(self.purges_received.clone()))?;
        r.register(Box::new(self.store_errors.clone()))?;
        r.register(Box::new(self.store_degraded.clone()))?;
        r.register(Box::new(self.store_bypassed_fills.clone()))?;
        r.register(Box::new(self.fills_in_memory.clone()))?;
        r.register(Box::new(self.fd_requests.clone()))?;
        r.register(Box::new(self.fd_messages.clone()))?;
        r.register(Box::new(self.fd_events.clone()))?;
        Ok(())
    }

    /// The registry's metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families; an error would only
        // drop the output, which the scrape then shows as empty.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The latency histograms of one route.
#[derive(Clone)]
pub struct RouteTimers {
    pub duration: Histogram,
    pub time_to_first_byte: Histogram,
}

impl Metrics {
    /// The latency histograms of `route` (a route name: a bounded set of constants).
    pub fn route_timers(&self, route: &'static str) -> RouteTimers {
        let known = self.route_timers.load();
        if let Some((_, t)) = known.iter().find(|(r, _)| *r == route) {
            return t.clone();
        }
        drop(known);
        let timers = RouteTimers {
            duration: self.request_duration.with_label_values(&[route]),
            time_to_first_byte: self.time_to_first_byte.with_label_values(&[route]),
        };
        self.route_timers.rcu(|v| {
            let mut v = (**v).clone();
            if !v.iter().any(|(r, _)| *r == route) {
                v.push((route, timers.clone()));
            }
            v
        });
        timers
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
