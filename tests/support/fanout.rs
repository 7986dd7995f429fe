//! The notification fan-out that the allocation tests, the benches and the regression gate
//! measure: one writer and `n` registrant extensions, all registered for one key.
//! Shared by `#[path]` inclusion so every measurement exercises the same workload.

#![allow(dead_code)]

use std::path::PathBuf;
use std::rc::Rc;

use faxsim_host::Host;
use faxsim_sim::trace::{ExtId, ExtensionKind, SOURCE_FAX};
use faxsim_sim::{ExtensionSpec, HookExtension, Service, ServiceOptions};

/// The key's GUID (device 0).
pub const GUID: &str = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}";

/// A started service under `opts` with a writer (returned) and `n` registrants for
/// (0, [`GUID`]); the writer's SetData fans out to all of them.
pub fn fanout_service(n: usize, opts: ServiceOptions) -> (Service, ExtId) {
    let mut svc = Service::new(opts);
    let writer = add_writer(&mut svc);
    for i in 0..n {
        svc.add_extension(
            ExtensionSpec {
                name: format!("r{i}"),
                kind: ExtensionKind::Routing,
            },
            Rc::new(HookExtension::new().on_general_init(|cb| {
                let c = cb.new_callback();
                cb.register(0, SOURCE_FAX, GUID, c).is_ok()
            })),
        )
        .expect("a registrant is added");
    }
    svc.start().expect("the service starts");
    (svc, writer)
}

/// The same workload with hosted C libraries as the registrants: each of `libs` (copies
/// of `extensions/c/bench_listener.c`, which registers itself for [`GUID`] at init) is
/// opened by a host attached to a service under `opts`, with an in-process writer.
pub fn hosted_fanout_service(libs: &[PathBuf], opts: ServiceOptions) -> (Host, Service, ExtId) {
    let mut host = Host::new();
    for p in libs {
        host.open(p, Some(ExtensionKind::Routing))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    let mut svc = Service::new(opts);
    host.attach(&mut svc).expect("the host attaches");
    let writer = add_writer(&mut svc);
    host.start(&mut svc).expect("the service starts");
    (host, svc, writer)
}

/// The writer: an in-process extension that registers for nothing.
fn add_writer(svc: &mut Service) -> ExtId {
    svc.add_extension(
        ExtensionSpec {
            name: "writer".into(),
            kind: ExtensionKind::Routing,
        },
        Rc::new(HookExtension::new()),
    )
    .expect("the writer is added")
}
