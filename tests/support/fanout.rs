//! The notification fan-out that the allocation tests, the benches and the regression gate
//! measure: one writer and `n` registrant extensions, all registered for one key.
//! Shared by `#[path]` inclusion so every measurement exercises the same workload.

#![allow(dead_code)]

use std::rc::Rc;

use faxsim_sim::trace::{ExtId, ExtensionKind, SOURCE_FAX};
use faxsim_sim::{ExtensionSpec, HookExtension, Service, ServiceOptions};

/// The key's GUID (device 0).
pub const GUID: &str = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}";

/// A started service under `opts` with a writer (returned) and `n` registrants for
/// (0, [`GUID`]); the writer's SetData fans out to all of them.
pub fn fanout_service(n: usize, opts: ServiceOptions) -> (Service, ExtId) {
    let mut svc = Service::new(opts);
    let writer = svc
        .add_extension(
            ExtensionSpec {
                name: "writer".into(),
                kind: ExtensionKind::Routing,
            },
            Rc::new(HookExtension::new()),
        )
        .expect("the writer is added");
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
