//! What a plan will take: time on this machine and the Lambda cost of the same work, from a
//! measured throughput (the caller passes it; `benches/lambda_memory.rs` measures it).

use crate::Plan;

/// AWS Lambda arm64 price per GB-second (us-east-1, first pricing tier).
const LAMBDA_ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// AWS Lambda price per request.
const LAMBDA_USD_PER_REQUEST: f64 = 0.000_000_2;

/// Time and cost of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// How many objects the plan would read.
    pub objects: u64,
    /// Bytes as stored.
    pub bytes: u64,
    /// Seconds here, with `concurrency` objects in flight.
    pub local_seconds: f64,
    /// Lambda compute for the same work, in GB-seconds.
    pub lambda_gb_seconds: f64,
    /// Lambda invocations (batches of `objects_per_invocation`).
    pub lambda_invocations: u64,
    /// Lambda cost in US dollars (compute and requests).
    pub lambda_usd: f64,
}

impl Estimate {
    /// Estimates a plan from the throughput of one worker (stored bytes per second: one core
    /// here, one vCPU in Lambda at 1769 MB), the local concurrency, the function's memory and
    /// the objects per invocation.
    pub fn of(
        plan: &Plan,
        bytes_per_second_per_worker: f64,
        concurrency: usize,
        lambda_memory_mb: u32,
        objects_per_invocation: u64,
    ) -> Estimate {
        let objects = plan.objects.len() as u64;
        let bytes: u64 = plan.objects.iter().map(|object| object.info.size).sum();
        let worker_seconds = bytes as f64 / bytes_per_second_per_worker.max(1.0);
        // Below one vCPU (1769 MB) Lambda gives a proportional share of one.
        let lambda_seconds = worker_seconds * (1769.0 / f64::from(lambda_memory_mb)).max(1.0);
        let lambda_gb_seconds = lambda_seconds * f64::from(lambda_memory_mb) / 1024.0;
        let lambda_invocations = objects.div_ceil(objects_per_invocation.max(1));
        Estimate {
            objects,
            bytes,
            local_seconds: worker_seconds / concurrency.max(1) as f64,
            lambda_gb_seconds,
            lambda_invocations,
            lambda_usd: lambda_gb_seconds * LAMBDA_ARM64_USD_PER_GB_SECOND
                + lambda_invocations as f64 * LAMBDA_USD_PER_REQUEST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Planned;
    use flowatlas_s3::ObjectInfo;

    #[test]
    fn a_terabyte_at_known_throughput() {
        let plan = Plan {
            objects: (0..1000)
                .map(|i| Planned {
                    bucket: "b".into(),
                    key: format!("k{i}"),
                    info: ObjectInfo {
                        size: 1_000_000_000,
                        ..ObjectInfo::default()
                    },
                })
                .collect(),
            ..Plan::default()
        };
        // 1 TB at 50 MB/s: 20,000 worker-seconds; at 1769 MB that is 34,551 GB-s.
        let estimate = Estimate::of(&plan, 50e6, 2, 1769, 10);
        assert_eq!(estimate.local_seconds, 10_000.0);
        assert!((estimate.lambda_gb_seconds - 20_000.0 * 1769.0 / 1024.0).abs() < 1e-6);
        assert_eq!(estimate.lambda_invocations, 100);
        assert!(
            (estimate.lambda_usd - (34_550.781_25 * 0.000_013_333_4 + 100.0 * 2e-7)).abs() < 1e-6
        );
        // Half a vCPU takes twice as long for the same GB-seconds.
        let half = Estimate::of(&plan, 50e6, 2, 884, 10);
        assert!(
            (half.lambda_gb_seconds - estimate.lambda_gb_seconds).abs()
                / estimate.lambda_gb_seconds
                < 0.01
        );
    }
}
