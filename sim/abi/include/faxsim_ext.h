/*
 * faxsim_ext.h - the Windows fax extension ABI for extension authors,
 * usable with or without the Windows SDK.
 *
 * Part of faxsim (MIT OR Apache-2.0). Written from the public descriptions
 * of faxext.h, faxdev.h and faxroute.h; it is not a copy of them.
 *
 * What it gives:
 *   - the basic Win32 types the fax headers use (off Windows only),
 *   - FAX_ENUM_DEVICE_ID_SOURCE and the seven PFAX_EXT_* pointer typedefs,
 *   - pointer typedefs and prototypes of the FSP and routing entry points,
 *   - the Win32 and HRESULT codes the configuration API returns,
 *   - FAXSIM_EXPORT, FAXSIM_W("...") and faxsim_module_handle().
 *
 * Off Windows, include this header before any system header (or build with
 * -D_GNU_SOURCE): glibc declares dladdr() only when _GNU_SOURCE is defined
 * before its first header, and this header defines it for you. Link with
 * -ldl on glibc older than 2.34.
 *
 * On Windows it includes <windows.h>. If you also use the SDK's faxext.h,
 * faxdev.h and faxroute.h, include them first and define
 * FAXSIM_USE_SDK_FAX_HEADERS; this header then adds only its helpers.
 * (A faxext.h included first is detected on its own.)
 */
#ifndef FAXSIM_EXT_H
#define FAXSIM_EXT_H

#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* for dladdr(); see above */
#endif

#if defined(_WIN32)
#include <windows.h>
#else
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#ifndef FAXSIM_NO_MODULE_HANDLE
#include <dlfcn.h>
#endif
#endif

#ifdef __cplusplus
#define FAXSIM_EXTERN_C extern "C"
extern "C" {
#else
#define FAXSIM_EXTERN_C
#endif

/* ---- calling convention, export, strings ------------------------------ */

/* WINAPI and CALLBACK are __stdcall on 32-bit x86 Windows and the C
 * convention everywhere else; Rust's extern "system" means the same. */
#if !defined(_WIN32)
#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#endif

/* Put this on each entry point the service must find by name. With
 * -fvisibility=hidden it is the only thing that exports a symbol. */
#if defined(_WIN32)
#define FAXSIM_EXPORT FAXSIM_EXTERN_C __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define FAXSIM_EXPORT FAXSIM_EXTERN_C __attribute__((visibility("default")))
#else
#define FAXSIM_EXPORT FAXSIM_EXTERN_C
#endif

/* UTF-16 string literal (GUID strings are LPCWSTR). Off Windows wchar_t is
 * 32-bit, so L"" would be wrong; u"" (C11/C++11) is UTF-16 everywhere. */
#if defined(_WIN32)
#define FAXSIM_W(s) L"" s
#else
#define FAXSIM_W(s) u"" s
#endif

/* ---- basic Win32 types (off Windows) ---------------------------------- */

#if !defined(_WIN32) && !defined(FAXSIM_NO_BASIC_TYPES)
typedef uint32_t DWORD;   /* 32 bits on every target, unlike long */
typedef int32_t BOOL;
typedef int32_t LONG;     /* Win32 LONG is 32 bits even on LP64 */
typedef int32_t HRESULT;
typedef uint8_t BYTE;
#ifdef __cplusplus
typedef char16_t WCHAR;   /* same ABI as uint16_t; lets u"" literals bind */
#else
typedef uint16_t WCHAR;   /* UTF-16 unit; NOT wchar_t (32-bit here) */
#endif
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef void *HINSTANCE;
typedef void *HMODULE;
typedef void *LPVOID;
typedef void *PVOID;
typedef const WCHAR *LPCWSTR;
typedef WCHAR *LPWSTR;
typedef BYTE *LPBYTE;
typedef DWORD *LPDWORD;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef uint64_t DWORDLONG;
typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
#ifndef VOID
#define VOID void
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#endif /* basic types */

/* ---- heaps (off Windows) ------------------------------------------------
 * The service hands FaxDevInitialize and FaxRouteInitialize a heap for the
 * extension to allocate from. Off Windows faxsim passes a non-NULL handle of its
 * own; these helpers let code written for Windows (HeapAlloc(heap, ...)) build and
 * run unchanged, allocating with malloc. Like Windows, they fail on a NULL heap.
 * Define FAXSIM_NO_HEAP_HELPERS to bring your own. */
#if !defined(_WIN32) && !defined(FAXSIM_NO_BASIC_TYPES) && !defined(FAXSIM_NO_HEAP_HELPERS)
#ifndef HEAP_ZERO_MEMORY
#define HEAP_ZERO_MEMORY 0x00000008
#endif
typedef size_t SIZE_T;
static inline LPVOID HeapAlloc(HANDLE heap, DWORD flags, SIZE_T bytes)
{
    if (heap == NULL) {
        return NULL;
    }
    return (flags & HEAP_ZERO_MEMORY) ? calloc(1, bytes ? bytes : 1) : malloc(bytes ? bytes : 1);
}
static inline LPVOID HeapReAlloc(HANDLE heap, DWORD flags, LPVOID mem, SIZE_T bytes)
{
    (void)flags;
    return heap == NULL ? NULL : realloc(mem, bytes ? bytes : 1);
}
static inline BOOL HeapFree(HANDLE heap, DWORD flags, LPVOID mem)
{
    (void)flags;
    if (heap == NULL) {
        return FALSE;
    }
    free(mem);
    return TRUE;
}
#endif

/* TAPI's application, line and call handles; DWORDs, as in tapi.h. */
#if !defined(TAPI_H) && !defined(FAXSIM_USE_SDK_FAX_HEADERS)
typedef DWORD HLINEAPP;
typedef DWORD HLINE;
typedef DWORD HCALL;
#endif

/* ---- status codes ------------------------------------------------------ */
/* Two domains: HRESULT for FaxExtInitializeConfig and the change handler,
 * Win32 codes (DWORD) for the service callbacks. Don't mix them. */

#ifndef ERROR_SUCCESS
#define ERROR_SUCCESS 0
#endif
#ifndef ERROR_FILE_NOT_FOUND
#define ERROR_FILE_NOT_FOUND 2
#endif
#ifndef ERROR_NOT_ENOUGH_MEMORY
#define ERROR_NOT_ENOUGH_MEMORY 8
#endif
#ifndef ERROR_GEN_FAILURE
#define ERROR_GEN_FAILURE 31
#endif
#ifndef ERROR_ALREADY_ASSIGNED
#define ERROR_ALREADY_ASSIGNED 85
#endif
#ifndef ERROR_INVALID_PARAMETER
#define ERROR_INVALID_PARAMETER 87
#endif
#ifndef ERROR_BUSY
#define ERROR_BUSY 170
#endif
#ifndef ERROR_BADDB /* the GetData docs spell it ERROR_BAD_DB */
#define ERROR_BADDB 1009
#endif
#ifndef ERROR_SHUTDOWN_IN_PROGRESS
#define ERROR_SHUTDOWN_IN_PROGRESS 1115
#endif
#ifndef ERROR_NOT_FOUND
#define ERROR_NOT_FOUND 1168
#endif
#ifndef NOERROR
#define NOERROR 0
#endif
#ifndef S_OK
#define S_OK ((HRESULT)0L)
#endif
#ifndef E_FAIL
#define E_FAIL ((HRESULT)0x80004005L)
#endif
#ifndef INVALID_HANDLE_VALUE
#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)
#endif

/* ---- configuration API (faxext.h) ------------------------------------- */

#if defined(_FAX_EXT_H_) || defined(_FAXEXT_H_) || defined(FAXEXT_H) || \
    defined(FAXSIM_USE_SDK_FAX_HEADERS)
#define FAXSIM_HAVE_SDK_FAXEXT 1
#endif

#ifndef FAXSIM_HAVE_SDK_FAXEXT
/* Which numbering a device id belongs to. */
typedef enum {
    DEV_ID_SRC_FAX = 0, /* logical ids: fax service, virtual FSPs, routing */
    DEV_ID_SRC_TAPI = 1 /* TAPI permanent line ids: TAPI-based FSPs */
} FAX_ENUM_DEVICE_ID_SOURCE;

/* Service callbacks, handed to FaxExtInitializeConfig. */
typedef DWORD(CALLBACK *PFAX_EXT_GET_DATA)(DWORD dwDeviceId,
                                           FAX_ENUM_DEVICE_ID_SOURCE DevIdSrc,
                                           LPCWSTR lpcwstrDataGUID,
                                           LPBYTE *ppData,
                                           LPDWORD lpdwDataSize);
typedef DWORD(CALLBACK *PFAX_EXT_SET_DATA)(HINSTANCE hInst, DWORD dwDeviceId,
                                           FAX_ENUM_DEVICE_ID_SOURCE DevIdSrc,
                                           LPCWSTR lpcwstrDataGUID,
                                           LPBYTE pData, DWORD dwDataSize);
/* The extension's change handler; any name, passed by pointer. */
typedef HRESULT(WINAPI *PFAX_EXT_CONFIG_CHANGE)(DWORD dwDeviceId,
                                                LPCWSTR lpcwstrDataGUID,
                                                LPBYTE lpData,
                                                DWORD dwDataSize);
/* Returns NULL on failure; the reason is the thread's last error. */
typedef HANDLE(CALLBACK *PFAX_EXT_REGISTER_FOR_EVENTS)(
    HINSTANCE hInst, DWORD dwDeviceId, FAX_ENUM_DEVICE_ID_SOURCE DevIdSrc,
    LPCWSTR lpcwstrDataGUID, PFAX_EXT_CONFIG_CHANGE lpConfigChangeCallback);
typedef DWORD(CALLBACK *PFAX_EXT_UNREGISTER_FOR_EVENTS)(HANDLE hNotification);
typedef VOID(CALLBACK *PFAX_EXT_FREE_BUFFER)(LPVOID lpvBuffer);
typedef HRESULT(WINAPI *PFAX_EXT_INITIALIZE_CONFIG)(
    PFAX_EXT_GET_DATA, PFAX_EXT_SET_DATA, PFAX_EXT_REGISTER_FOR_EVENTS,
    PFAX_EXT_UNREGISTER_FOR_EVENTS, PFAX_EXT_FREE_BUFFER);

#ifndef FAXSIM_NO_PROTOTYPES
/* Unlike the SDK's prototype this one carries WINAPI, so a definition
 * without it fails to compile where it matters (32-bit x86). */
HRESULT WINAPI FaxExtInitializeConfig(PFAX_EXT_GET_DATA,
                                      PFAX_EXT_SET_DATA,
                                      PFAX_EXT_REGISTER_FOR_EVENTS,
                                      PFAX_EXT_UNREGISTER_FOR_EVENTS,
                                      PFAX_EXT_FREE_BUFFER);
#endif
#endif /* !FAXSIM_HAVE_SDK_FAXEXT */

/* ---- FSP and routing entry points (faxdev.h, faxroute.h) --------------- */

/* Capacity in WCHARs of FaxDevVirtualDeviceCreation's name prefix buffer. */
#define FAXSIM_MAX_DEVICE_NAME_PREFIX_CHARS 128

#ifndef FAXSIM_USE_SDK_FAX_HEADERS
typedef void(CALLBACK *PFAX_LINECALLBACK)(HANDLE FaxHandle, DWORD hDevice,
                                          DWORD dwMessage,
                                          DWORD_PTR dwInstance,
                                          DWORD_PTR dwParam1,
                                          DWORD_PTR dwParam2,
                                          DWORD_PTR dwParam3);
typedef BOOL(CALLBACK *PFAX_SERVICE_CALLBACK)(HANDLE FaxHandle, DWORD DeviceId,
                                              DWORD_PTR Param1,
                                              DWORD_PTR Param2,
                                              DWORD_PTR Param3);
typedef BOOL(WINAPI *PFAXDEVINITIALIZE)(HLINEAPP, HANDLE, PFAX_LINECALLBACK *,
                                        PFAX_SERVICE_CALLBACK);
typedef BOOL(WINAPI *PFAXDEVVIRTUALDEVICECREATION)(LPDWORD DeviceCount,
                                                   LPWSTR DeviceNamePrefix,
                                                   LPDWORD DeviceIdPrefix,
                                                   HANDLE CompletionPort,
                                                   ULONG_PTR CompletionKey);
typedef HRESULT(WINAPI *PFAXDEVSHUTDOWN)(void);

/* The job side of a provider. */
typedef struct _FAX_SEND {
    DWORD SizeOfStruct;
    LPWSTR FileName;       /* the TIFF file to send */
    LPWSTR CallerName;
    LPWSTR CallerNumber;
    LPWSTR ReceiverName;
    LPWSTR ReceiverNumber; /* the number to dial */
    BOOL Branding;
    HCALL CallHandle;      /* 0: the provider places the call */
    DWORD Reserved[3];
} FAX_SEND, *PFAX_SEND;
typedef struct _FAX_RECEIVE {
    DWORD SizeOfStruct;
    LPWSTR FileName;       /* the file the service created for the fax */
    LPWSTR ReceiverName;
    LPWSTR ReceiverNumber;
    DWORD Reserved[4];
} FAX_RECEIVE, *PFAX_RECEIVE;
typedef struct _FAX_DEV_STATUS {
    DWORD SizeOfStruct;
    DWORD StatusId;
    DWORD StringId;
    DWORD PageCount;
    LPWSTR CSI;
    LPWSTR CallerId;
    LPWSTR RoutingInfo;
    DWORD ErrorCode;
    DWORD Reserved[3];
} FAX_DEV_STATUS, *PFAX_DEV_STATUS;
typedef BOOL(CALLBACK *PFAX_SEND_CALLBACK)(HANDLE FaxHandle, HCALL CallHandle,
                                           DWORD Reserved1, DWORD Reserved2);
typedef BOOL(WINAPI *PFAXDEVSTARTJOB)(HLINE LineHandle, DWORD DeviceId,
                                      PHANDLE FaxHandle,
                                      HANDLE CompletionPortHandle,
                                      ULONG_PTR CompletionKey);
typedef BOOL(WINAPI *PFAXDEVENDJOB)(HANDLE FaxHandle);
typedef BOOL(WINAPI *PFAXDEVSEND)(HANDLE FaxHandle, PFAX_SEND FaxSend,
                                  PFAX_SEND_CALLBACK FaxSendCallback);
typedef BOOL(WINAPI *PFAXDEVRECEIVE)(HANDLE FaxHandle, HCALL CallHandle,
                                     PFAX_RECEIVE FaxReceive);
typedef BOOL(WINAPI *PFAXDEVREPORTSTATUS)(HANDLE FaxHandle,
                                          PFAX_DEV_STATUS FaxStatus,
                                          DWORD FaxStatusSize,
                                          LPDWORD FaxStatusSizeRequired);
typedef BOOL(WINAPI *PFAXDEVABORTOPERATION)(HANDLE FaxHandle);

/* Job-side service callbacks of a routing extension. */
typedef LONG(WINAPI *PFAXROUTEADDFILE)(DWORD JobId, LPCWSTR FileName,
                                       GUID *Guid);
typedef LONG(WINAPI *PFAXROUTEDELETEFILE)(DWORD JobId, LPCWSTR FileName);
typedef BOOL(WINAPI *PFAXROUTEGETFILE)(DWORD JobId, DWORD Index,
                                       LPWSTR FileNameBuffer,
                                       LPDWORD RequiredSize);
typedef BOOL(WINAPI *PFAXROUTEENUMFILE)(DWORD JobId, GUID *GuidOwner,
                                        GUID *GuidCaller, LPCWSTR FileName,
                                        PVOID Context);
typedef BOOL(WINAPI *PFAXROUTEENUMFILES)(DWORD JobId, GUID *Guid,
                                         PFAXROUTEENUMFILE FileEnumerator,
                                         PVOID Context);
typedef BOOL(WINAPI *PFAXROUTEMODIFYROUTINGDATA)(DWORD JobId,
                                                 LPCWSTR RoutingGuid,
                                                 LPBYTE RoutingData,
                                                 DWORD RoutingDataSize);
typedef struct _FAX_ROUTE_CALLBACKROUTINES {
    DWORD SizeOfStruct;
    PFAXROUTEADDFILE FaxRouteAddFile;
    PFAXROUTEDELETEFILE FaxRouteDeleteFile;
    PFAXROUTEGETFILE FaxRouteGetFile;
    PFAXROUTEENUMFILES FaxRouteEnumFiles;
    PFAXROUTEMODIFYROUTINGDATA FaxRouteModifyRoutingData;
} FAX_ROUTE_CALLBACKROUTINES, *PFAX_ROUTE_CALLBACKROUTINES;

/* What a routing method is given for a received fax. */
typedef struct _FAX_ROUTE {
    DWORD SizeOfStruct;
    DWORD JobId;
    DWORDLONG ElapsedTime;   /* 100 ns units */
    DWORDLONG ReceiveTime;   /* a FILETIME */
    DWORD PageCount;
    LPCWSTR Csid;
    LPCWSTR Tsid;
    LPCWSTR CallerId;
    LPCWSTR RoutingInfo;
    LPCWSTR ReceiverName;
    LPCWSTR ReceiverNumber;
    LPCWSTR DeviceName;
    DWORD DeviceId;
    LPBYTE RoutingInfoData;
    DWORD RoutingInfoDataSize;
} FAX_ROUTE, *PFAX_ROUTE;

/* A routing method, exported under the name the extension gives for it. */
typedef BOOL(WINAPI *PFAXROUTEMETHOD)(const FAX_ROUTE *FaxRoute,
                                      PVOID *FailureData,
                                      LPDWORD FailureDataSize);

/* Third argument of FaxRouteDeviceEnable. */
typedef enum {
    QUERY_STATUS = -1,
    STATUS_DISABLE = 0,
    STATUS_ENABLE = 1
} FAXROUTE_ENABLE;

typedef BOOL(WINAPI *PFAXROUTEINITIALIZE)(HANDLE, PFAX_ROUTE_CALLBACKROUTINES);
typedef BOOL(WINAPI *PFAXROUTEDEVICEENABLE)(LPCWSTR, DWORD, LONG);
typedef BOOL(WINAPI *PFAXROUTEDEVICECHANGENOTIFICATION)(DWORD, BOOL);
typedef BOOL(WINAPI *PFAXROUTEGETROUTINGINFO)(LPCWSTR, DWORD, LPBYTE,
                                              LPDWORD);
typedef BOOL(WINAPI *PFAXROUTESETROUTINGINFO)(LPCWSTR, DWORD, const BYTE *,
                                              DWORD);

#ifndef FAXSIM_NO_PROTOTYPES
/* Prototypes let the compiler check your definitions' signatures. */
BOOL WINAPI FaxDevInitialize(HLINEAPP LineAppHandle, HANDLE HeapHandle,
                             PFAX_LINECALLBACK *LineCallbackFunction,
                             PFAX_SERVICE_CALLBACK FaxServiceCallback);
BOOL WINAPI FaxDevVirtualDeviceCreation(LPDWORD DeviceCount,
                                        LPWSTR DeviceNamePrefix,
                                        LPDWORD DeviceIdPrefix,
                                        HANDLE CompletionPort,
                                        ULONG_PTR CompletionKey);
HRESULT WINAPI FaxDevShutdown(void);
BOOL WINAPI FaxDevStartJob(HLINE LineHandle, DWORD DeviceId, PHANDLE FaxHandle,
                           HANDLE CompletionPortHandle, ULONG_PTR CompletionKey);
BOOL WINAPI FaxDevEndJob(HANDLE FaxHandle);
BOOL WINAPI FaxDevSend(HANDLE FaxHandle, PFAX_SEND FaxSend,
                       PFAX_SEND_CALLBACK FaxSendCallback);
BOOL WINAPI FaxDevReceive(HANDLE FaxHandle, HCALL CallHandle,
                          PFAX_RECEIVE FaxReceive);
BOOL WINAPI FaxDevReportStatus(HANDLE FaxHandle, PFAX_DEV_STATUS FaxStatus,
                               DWORD FaxStatusSize,
                               LPDWORD FaxStatusSizeRequired);
BOOL WINAPI FaxDevAbortOperation(HANDLE FaxHandle);
BOOL WINAPI FaxRouteInitialize(HANDLE HeapHandle,
                               PFAX_ROUTE_CALLBACKROUTINES Callbacks);
BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR RoutingGuid, DWORD DeviceId,
                                 LONG Enabled);
BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD DeviceId, BOOL NewDevice);
BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR RoutingGuid, DWORD DeviceId,
                                   LPBYTE RoutingInfo,
                                   LPDWORD RoutingInfoSize);
BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR RoutingGuid, DWORD DeviceId,
                                   const BYTE *RoutingInfo,
                                   DWORD RoutingInfoSize);
#endif
#endif /* !FAXSIM_USE_SDK_FAX_HEADERS */

/* ---- the module handle (hInst) ----------------------------------------- */

#ifndef FAXSIM_NO_MODULE_HANDLE
/*
 * Returns the hInst to pass to SetData and Register: the handle of the
 * library that contains the caller. Being static inline, each copy of this
 * function lives inside the library whose source included the header, so
 * asking the loader which module holds its own address names that library.
 * On Windows that is the module's HINSTANCE; elsewhere it is the base
 * address dladdr() reports (dli_fbase), which is also what faxsim's host
 * computes for every library it loads. Returns NULL if the lookup fails.
 */
static inline HINSTANCE faxsim_module_handle(void)
{
    /* A union turns the function address into a data pointer without the
     * cast that -pedantic rejects; both are plain addresses here. */
    union {
        HINSTANCE (*fn)(void);
        const void *addr;
    } self;
    self.fn = faxsim_module_handle;
#if defined(_WIN32)
    {
        HMODULE module = NULL;
        if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                                (LPCWSTR)self.addr, &module)) {
            return NULL;
        }
        return (HINSTANCE)module;
    }
#else
    {
        Dl_info info;
        if (dladdr(self.addr, &info) == 0) {
            return NULL;
        }
        return (HINSTANCE)info.dli_fbase;
    }
#endif
}
#endif /* !FAXSIM_NO_MODULE_HANDLE */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FAXSIM_EXT_H */
