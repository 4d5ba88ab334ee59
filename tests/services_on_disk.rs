//! The services are the same whatever the memory the build may use: with the
//! report's bound (everything in memory for captures this size) and with bounds so
//! small that every partial tally, service endpoint, first frame and service goes
//! through the temporary files and their merges.

use std::path::PathBuf;
use whohosts::pipeline::{self, AnalyzeOptions};
use whohosts::services::{self, ServiceList};

fn shown(list: &ServiceList) -> Vec<String> {
    let all = list
        .iter()
        .map(|s| serde_json::to_string(&s).unwrap())
        .collect();
    assert_eq!(list.failure(), None);
    all
}

#[test]
fn services_built_on_disk_equal_those_built_in_memory() {
    // Every bundled capture, the third-party ones too (hundreds of endpoints).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut paths = Vec::new();
    for dir in [root.clone(), root.join("thirdparty/tcpdump")] {
        paths.extend(
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy().into_owned();
                    n.ends_with(".pcap") || n.ends_with(".pcapng")
                }),
        );
    }
    paths.sort();
    assert!(paths.len() > 60, "{} captures", paths.len());
    let analyses = pipeline::analyze(&paths, &AnalyzeOptions::default()).unwrap();
    let build = |limit: usize| {
        services::build(
            || whohosts::report::service_conversations(&analyses),
            analyses.iter().flat_map(|a| a.names.iter()),
            &[],
            &Default::default(),
            limit,
        )
    };
    let in_memory = build(services::MEMORY_LIMIT);
    let want = shown(&in_memory);
    assert!(want.len() > 50, "{} services", want.len());
    assert_eq!(in_memory.len(), want.len());
    for limit in [0, 1, 100, 5000] {
        let on_disk = build(limit);
        assert_eq!(on_disk.len(), want.len(), "limit {limit}");
        assert_eq!(on_disk.internet(), in_memory.internet(), "limit {limit}");
        assert!(shown(&on_disk) == want, "limit {limit}");
    }

    // The endpoints of one label are brought together by the label's hash; labels
    // whose hashes agree (here all of them, or those of one length) are still
    // services of their own, in memory and on disk.
    let all_equal: fn(&str) -> u64 = |_| 7;
    let by_length: fn(&str) -> u64 = |l| l.len() as u64;
    for hash in [all_equal, by_length] {
        for limit in [0, 100, services::MEMORY_LIMIT] {
            let built = services::build_hashed(
                || whohosts::report::service_conversations(&analyses),
                analyses.iter().flat_map(|a| a.names.iter()),
                &[],
                &Default::default(),
                limit,
                hash,
            );
            assert!(shown(&built) == want, "limit {limit}");
        }
    }
}
