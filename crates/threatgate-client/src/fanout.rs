//! Running one operation for many tenants at once: bounded concurrency, each tenant's result
//! (or error) delivered as soon as it is ready, one failure never stopping the others.

use std::future::Future;

use futures_util::stream::{self, Stream, StreamExt};

/// Runs `operation` for each tenant, at most `concurrency` at a time, and yields
/// `(tenant, result)` in completion order.
pub fn fan_out<T, F, Fut>(
    tenants: impl IntoIterator<Item = String>,
    concurrency: usize,
    operation: F,
) -> impl Stream<Item = (String, crate::Result<T>)>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = crate::Result<T>>,
{
    stream::iter(tenants)
        .map(move |tenant| {
            let running = operation(tenant.clone());
            async move { (tenant, running.await) }
        })
        .buffer_unordered(concurrency.max(1))
}
