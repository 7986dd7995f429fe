//! Routing a received fax: the job the service routes through the routing methods, its
//! file list, and the job-side routines of `FAX_ROUTE_CALLBACKROUTINES` a routing method
//! calls to manage that list (`FaxRouteAddFile`, `FaxRouteDeleteFile`, `FaxRouteGetFile`,
//! `FaxRouteEnumFiles`) and to hand data to a later method (`FaxRouteModifyRoutingData`).
//!
//! A driver brackets the routing methods it calls with [`Service::routing_start`] and
//! [`Service::routing_end`]; in between, the file list holds the received TIFF as file 1
//! (named [`RECEIVED_FAX_FOLDER`]`<job>.tif`: a host keeps the real file in a folder of
//! its own and translates the prefix both ways, so traces do not depend on where it is),
//! then the files the methods add. Routines called for any other job fail with
//! `ERROR_INVALID_PARAMETER`; the choices behind each answer are in `docs/choices.md`.

use std::sync::Arc;

use faxsim_abi::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER,
    ERROR_SUCCESS, FALSE, TRUE,
};
use faxsim_trace::{
    Crossing, EventKind, ExtId, GuidArg, NameBuffer, PayloadArg, RouteMethod, RouteRoutine,
};

use super::{Callbacks, Service, SimError, State};
use crate::guid::parse_braced_guid;

/// How file names in the service's own folder are written in the model and the trace: a
/// host replaces it with the real folder (and back) at the boundary.
pub const RECEIVED_FAX_FOLDER: &str = "%FAXSIM_QUEUE%\\";

/// The name of the function a routing extension passes to `FaxRouteEnumFiles`: its calls
/// are recorded as entry point calls of this name (the documented placeholder name).
pub const ENUM_FILE_FUNCTION: &str = "FaxRouteEnumFile";

/// The received fax being routed.
#[derive(Debug, Default)]
pub(super) struct RoutedFax {
    job: u32,
    device: u32,
    /// File number `i + 1` is `files[i]`.
    files: Vec<RoutedFile>,
    /// Routing data handed to later methods (`FaxRouteModifyRoutingData`), by GUID value.
    data: Vec<(u128, Arc<[u8]>)>,
    /// The methods it is routed through.
    methods: Vec<RouteMethod>,
}

/// One file of a routed fax's file list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutedFile {
    /// Its name as the model writes it (a file of the service's folder starts with
    /// [`RECEIVED_FAX_FOLDER`]).
    pub name: Arc<str>,
    /// The GUID (braced) of the routing method that added it; `None` for the received fax.
    pub owner: Option<Arc<str>>,
}

/// A routine call as the extension made it (see [`EventKind::RouteFileCall`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteFileArgs {
    /// Which routine.
    pub routine: RouteRoutine,
    /// `JobId`.
    pub job: u32,
    /// `Index` of `FaxRouteGetFile`.
    pub index: u32,
    /// `FileName`, with the service's folder written as [`RECEIVED_FAX_FOLDER`].
    pub file: Option<String>,
    /// The routing method's GUID, braced.
    pub guid: Option<String>,
    /// `RoutingData` of `FaxRouteModifyRoutingData`.
    pub data: Option<Vec<u8>>,
    /// `FileNameBuffer` of `FaxRouteGetFile` against the name's size.
    pub buffer: NameBuffer,
}

impl RouteFileArgs {
    /// A call of `routine` for `job` with no other argument.
    pub fn new(routine: RouteRoutine, job: u32) -> RouteFileArgs {
        RouteFileArgs {
            routine,
            job,
            index: 0,
            file: None,
            guid: None,
            data: None,
            buffer: NameBuffer::None,
        }
    }
}

/// What a routine answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteFileAnswer {
    /// The LONG file number (-1: failed) or the BOOL.
    pub result: i32,
    /// The error set on failure (`ERROR_SUCCESS` on success).
    pub code: u32,
    /// The name `FaxRouteGetFile` answers (with [`RECEIVED_FAX_FOLDER`]).
    pub file: Option<Arc<str>>,
}

impl RouteFileAnswer {
    fn fail(routine: RouteRoutine, code: u32) -> RouteFileAnswer {
        let result = match routine {
            RouteRoutine::AddFile | RouteRoutine::DeleteFile => -1,
            _ => FALSE,
        };
        RouteFileAnswer {
            result,
            code,
            file: None,
        }
    }
}

/// Windows file names compare without regard to case.
fn same_file(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| x.to_lowercase().eq(y.to_lowercase()))
}

impl Service {
    /// The service begins routing a fax received on `device` through `methods` (GUID,
    /// function), in that order: a new job whose file list holds the received TIFF;
    /// returns the job id. The routing methods a driver calls until
    /// [`Service::routing_end`] route this job.
    pub fn routing_start(
        &mut self,
        device: u32,
        methods: &[(String, String)],
    ) -> Result<u32, SimError> {
        if self.state != State::Running {
            return Err(SimError::NotRunning);
        }
        self.next_job = self.next_job.wrapping_add(1).max(1);
        let job = self.next_job;
        let methods: Vec<RouteMethod> = methods
            .iter()
            .map(|(g, f)| RouteMethod {
                guid: self.intern(g),
                function: self.intern(f),
            })
            .collect();
        self.emit(
            None,
            EventKind::RoutingStart {
                job,
                device,
                methods: methods.clone(),
            },
        );
        self.begin_routing(job, device, methods);
        self.status().map(|()| job)
    }

    pub(super) fn begin_routing(&mut self, job: u32, device: u32, methods: Vec<RouteMethod>) {
        self.next_job = self.next_job.max(job);
        let name = self.intern(&received_fax_name(job));
        self.routing = Some(RoutedFax {
            job,
            device,
            files: vec![RoutedFile { name, owner: None }],
            data: Vec::new(),
            methods,
        });
    }

    /// The GUID of the routing method `function` implements, for the job being routed.
    pub fn routing_method_guid(&self, function: &str) -> Option<Arc<str>> {
        let fax = self.routing.as_ref()?;
        fax.methods
            .iter()
            .find(|m| &*m.function == function)
            .map(|m| m.guid.clone())
    }

    /// Routing of the current job is over: its file list is gone.
    pub fn routing_end(&mut self) -> Result<(), SimError> {
        if let Some(fax) = self.routing.take() {
            self.emit(None, EventKind::RoutingEnd { job: fax.job });
        }
        self.status()
    }

    /// The job being routed and the device that received it.
    pub fn routing_job(&self) -> Option<(u32, u32)> {
        self.routing.as_ref().map(|f| (f.job, f.device))
    }

    /// The file list of the job being routed.
    pub fn routed_files(&self) -> &[RoutedFile] {
        self.routing.as_ref().map_or(&[], |f| &f.files)
    }

    /// The routing data an earlier method handed routing method `guid`
    /// (`FaxRouteModifyRoutingData`) for the job being routed.
    pub fn routing_data_for(&self, guid: &str) -> Option<Arc<[u8]>> {
        let value = parse_braced_guid(guid)?;
        let fax = self.routing.as_ref()?;
        fax.data
            .iter()
            .rev()
            .find(|(g, _)| *g == value)
            .map(|(_, d)| d.clone())
    }

    /// A routine call: emits the call, answers it (from the model or the oracle), emits
    /// the return. For `FaxRouteEnumFiles` the model calls the extension's enumerator
    /// ([`ENUM_FILE_FUNCTION`]) for each file in between, until it answers FALSE.
    fn route_file(&mut self, ext: ExtId, args: RouteFileArgs) -> RouteFileAnswer {
        let file: GuidArg = args.file.as_deref().map(|f| self.intern(f));
        let guid: GuidArg = args.guid.as_deref().map(|g| self.intern(g));
        let data: PayloadArg = args.data.as_deref().map(Arc::from);
        self.emit(
            Some(ext),
            EventKind::RouteFileCall {
                routine: args.routine,
                job: args.job,
                index: args.index,
                file,
                guid,
                data,
                buffer: args.buffer,
            },
        );
        let answer = if let Some(oracle) = self.oracle.clone() {
            match oracle.answer(self, ext, Crossing::RouteFile) {
                EventKind::RouteFileReturn { result, code, file } => {
                    let answer = RouteFileAnswer { result, code, file };
                    self.apply_route_answer(&args, &answer);
                    answer
                }
                _ => RouteFileAnswer::fail(args.routine, faxsim_abi::ERROR_GEN_FAILURE),
            }
        } else {
            let answer = self.model_route_answer(&args);
            if args.routine == RouteRoutine::EnumFiles && answer.result != FALSE {
                self.enumerate_files(ext);
            }
            self.apply_route_answer(&args, &answer);
            answer
        };
        if answer.result == FALSE || answer.result == -1 {
            self.last_error.insert(self.thread, answer.code);
        }
        self.emit(
            Some(ext),
            EventKind::RouteFileReturn {
                result: answer.result,
                code: answer.code,
                file: answer.file.clone(),
            },
        );
        answer
    }

    /// Calls the extension's enumerator once per file (the host keeps the function and
    /// its context, and gives it the next file each call) until it answers FALSE.
    fn enumerate_files(&mut self, ext: ExtId) {
        let count = self.routed_files().len();
        for _ in 0..count {
            if !self.exts[ext.index()]
                .imp
                .drives_entry_point(ENUM_FILE_FUNCTION)
            {
                return;
            }
            let function = self.intern(ENUM_FILE_FUNCTION);
            let result = self.call_entry_point(ext, function);
            if result == FALSE || self.abort.is_some() {
                return;
            }
        }
    }

    /// What the model answers (see the module docs).
    fn model_route_answer(&self, args: &RouteFileArgs) -> RouteFileAnswer {
        let fail = |code| RouteFileAnswer::fail(args.routine, code);
        let ok = |result| RouteFileAnswer {
            result,
            code: ERROR_SUCCESS,
            file: None,
        };
        let Some(fax) = self.routing.as_ref().filter(|f| f.job == args.job) else {
            return fail(ERROR_INVALID_PARAMETER);
        };
        match args.routine {
            RouteRoutine::AddFile => match (&args.file, &args.guid) {
                (Some(f), Some(_)) if !f.is_empty() => ok(fax.files.len() as i32 + 1),
                _ => fail(ERROR_INVALID_PARAMETER),
            },
            RouteRoutine::DeleteFile => {
                let Some(f) = &args.file else {
                    return fail(ERROR_INVALID_PARAMETER);
                };
                match fax.files.iter().position(|x| same_file(&x.name, f)) {
                    None => fail(ERROR_FILE_NOT_FOUND),
                    // The received fax is read-only for the routing methods.
                    Some(0) => fail(ERROR_ACCESS_DENIED),
                    Some(i) => ok(i as i32 + 1),
                }
            }
            RouteRoutine::GetFile => {
                let Some(f) = (args.index as usize)
                    .checked_sub(1)
                    .and_then(|i| fax.files.get(i))
                else {
                    return fail(ERROR_INVALID_PARAMETER);
                };
                let (result, code) = match args.buffer {
                    NameBuffer::None | NameBuffer::Fits => (TRUE, ERROR_SUCCESS),
                    NameBuffer::TooSmall => (FALSE, ERROR_INSUFFICIENT_BUFFER),
                };
                RouteFileAnswer {
                    result,
                    code,
                    file: Some(f.name.clone()),
                }
            }
            RouteRoutine::EnumFiles => ok(TRUE),
            RouteRoutine::ModifyRoutingData => {
                match (args.guid.as_deref().and_then(parse_braced_guid), &args.data) {
                    (Some(_), Some(_)) => ok(TRUE),
                    _ => fail(ERROR_INVALID_PARAMETER),
                }
            }
        }
    }

    /// Applies an answer to the file list (the model's own, or a recorded one).
    fn apply_route_answer(&mut self, args: &RouteFileArgs, answer: &RouteFileAnswer) {
        let succeeded = answer.result > 0;
        match args.routine {
            RouteRoutine::AddFile if succeeded => {
                let name = args.file.as_deref().map(|f| self.intern(f));
                let owner = args.guid.as_deref().map(|g| self.intern(g));
                if let (Some(fax), Some(name)) = (self.routing.as_mut(), name) {
                    fax.files.push(RoutedFile { name, owner });
                }
            }
            RouteRoutine::DeleteFile if succeeded => {
                if let Some(fax) = self.routing.as_mut() {
                    let i = answer.result as usize - 1;
                    if i > 0 && i < fax.files.len() {
                        fax.files.remove(i);
                    }
                }
            }
            RouteRoutine::ModifyRoutingData if succeeded => {
                let value = args.guid.as_deref().and_then(parse_braced_guid);
                if let (Some(fax), Some(v), Some(d)) = (self.routing.as_mut(), value, &args.data) {
                    fax.data.push((v, Arc::from(&d[..])));
                }
            }
            _ => {}
        }
    }
}

/// The model's name of job `job`'s received fax.
pub fn received_fax_name(job: u32) -> String {
    format!("{RECEIVED_FAX_FOLDER}{job}.tif")
}

impl Callbacks<'_> {
    /// A job-side routine of `FAX_ROUTE_CALLBACKROUTINES` (see the module docs).
    pub fn route_file(&mut self, args: RouteFileArgs) -> RouteFileAnswer {
        self.enter();
        self.svc.route_file(self.ext, args)
    }

    /// The file list of the job being routed (what the enumerator is given).
    pub fn routed_files(&self) -> &[RoutedFile] {
        self.svc.routed_files()
    }

    /// The job being routed and its device.
    pub fn routing_job(&self) -> Option<(u32, u32)> {
        self.svc.routing_job()
    }

    /// The routing data an earlier method handed routing method `guid`.
    pub fn routing_data_for(&self, guid: &str) -> Option<Arc<[u8]>> {
        self.svc.routing_data_for(guid)
    }

    /// The GUID of the routing method `function` implements.
    pub fn routing_method_guid(&self, function: &str) -> Option<Arc<str>> {
        self.svc.routing_method_guid(function)
    }
}
