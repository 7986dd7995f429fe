//! A routing extension's entry points (FaxRouteDeviceEnable, FaxRouteGetRoutingInfo,
//! FaxRouteSetRoutingInfo, routing methods and the file routines): the lifecycle rules
//! their calls fall under, and the last routing call, which names the service's input an
//! `input-written` finding is about.

use faxsim_trace::{Event, ExtId, Half, ServiceInput};

use super::Checker;
use super::messages::describe_call;
use crate::rules::Rule;

impl Checker {
    pub(super) fn on_route_device_change_call(
        &mut self,
        ext: Option<ExtId>,
        seq: u64,
        device: u32,
        new_device: bool,
    ) {
        if let Some(e) = ext {
            self.init_failure_ignored(e, seq, || {
                format!(
                    "FaxRouteDeviceChangeNotification(device {device}, {})",
                    if new_device { "TRUE" } else { "FALSE" }
                )
            });
        }
    }

    /// FaxRouteDeviceEnable, FaxRouteGetRoutingInfo, FaxRouteSetRoutingInfo or a routing
    /// method was called.
    pub(super) fn on_routing_call(&mut self, event: &Event) {
        use faxsim_trace::EventKind as K;
        let seq = event.seq;
        if let K::RouteDeviceEnableCall { guid, device, .. }
        | K::RouteGetRoutingInfoCall { guid, device, .. }
        | K::RouteSetRoutingInfoCall { guid, device, .. } = &event.kind
            && let Some(Half::Call(c)) = event.kind.half()
        {
            self.last_routing_call = Some((seq, c.function(), *device, guid.clone()));
        }
        if let (Some(e), Some(Half::Call(c))) = (event.ext, event.kind.half()) {
            self.init_failure_ignored(e, seq, || {
                event.kind.function().unwrap_or(c.function()).to_string()
            });
        }
    }

    pub(super) fn on_route_file_call(&mut self, event: &Event) {
        // The routines come with FaxRouteInitialize's table, not with
        // FaxExtInitializeConfig: only a call from unloaded code is judged.
        if let Some(e) = event.ext
            && let Some(u) = self.exts.get(e.index()).and_then(|s| s.unloaded_at)
        {
            let msg = format!(
                "{} called {} after it was unloaded at event {u}",
                self.name(Some(e)),
                describe_call(&event.kind)
            );
            self.report(Rule::CallAfterUnload, Some(e), event.seq, msg);
        }
    }

    pub(super) fn on_input_written(
        &mut self,
        event: &Event,
        call: u64,
        input: ServiceInput,
        offset: u32,
    ) {
        let ext = event.ext;
        let what = match input {
            ServiceInput::Guid => "the GUID string",
            ServiceInput::RoutingInfo => "the routing info",
        };
        let to = match &self.last_routing_call {
            Some((at, function, device, guid)) if *at == call => format!(
                "{function} at event {call} (device {device}, {})",
                guid.as_deref().unwrap_or("NULL")
            ),
            _ => self.describe_delivery(event.thread, call),
        };
        let msg = format!(
            "{} wrote into {what} the service passed to {to}, which is the service's read-only input (first changed byte at offset {offset})",
            self.name(ext)
        );
        self.report(Rule::InputWritten, ext, event.seq, msg);
    }
}
