/* An extension with every entry point the recording proxy forwards but faxsim's battery
 * does not call (tests/recorder.rs drives it through a proxy with a fake service):
 *   - the routing entry points (FaxRouteDeviceEnable reads its configuration inside,
 *     FaxRouteGetRoutingInfo answers a size query and then fills the buffer,
 *     FaxRouteSetRoutingInfo takes the bytes), and no FaxRouteDeviceChangeNotification;
 *   - two routing methods: RouteToNowhere writes its data with its own hInst,
 *     RegisterMany registers 65 distinct ConfigChange functions (one more than the
 *     proxy's wrapper pool);
 *   - the job side of an FSP: FaxDevStartJob hands out a job handle, FaxDevReportStatus
 *     fails with ERROR_INSUFFICIENT_BUFFER as the thread's last error.
 * Its ConfigChange frees lpData when the data starts with 0xEE. */
#include "../../extensions/c/fixture.h"

#include <errno.h>

#define ERROR_INSUFFICIENT_BUFFER_CODE 122

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)guid;
    if (data != NULL && size > 0 && data[0] == 0xEE) {
        g_free_buffer(data); /* a foreign free, as ChangeData */
    }
    return NOERROR;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    (void)heap;
    (void)cbs;
    return g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change) != NULL;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR guid, DWORD device, LONG enabled)
{
    DWORD flag = fixture_read_dword(device, DEV_ID_SRC_FAX, guid, 0);
    if (enabled == QUERY_STATUS) {
        return flag != 0;
    }
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR guid, DWORD device, LPBYTE info,
                                                 LPDWORD size)
{
    static const BYTE data[4] = {1, 2, 3, 4};
    (void)guid;
    (void)device;
    if (info == NULL) {
        *size = sizeof(data);
        return TRUE;
    }
    if (*size < sizeof(data)) {
        return FALSE;
    }
    memcpy(info, data, sizeof(data));
    *size = sizeof(data);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR guid, DWORD device, const BYTE *info,
                                                 DWORD size)
{
    (void)guid;
    (void)device;
    return info != NULL && size > 0;
}

FAXSIM_EXPORT BOOL WINAPI RouteToNowhere(const void *route, void **failure_data,
                                         LPDWORD failure_size)
{
    static BYTE routed[4] = {'r', 'o', 'u', 't'};
    (void)route;
    (void)failure_data;
    (void)failure_size;
    return g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, routed,
                      sizeof(routed)) == ERROR_SUCCESS;
}

#define CB(n)                                                                          \
    static HRESULT WINAPI cb##n(DWORD d, LPCWSTR g, LPBYTE p, DWORD s)                 \
    {                                                                                  \
        (void)d; (void)g; (void)p; (void)s;                                            \
        return (HRESULT)(n);                                                           \
    }
#define CB8(n) CB(n##0) CB(n##1) CB(n##2) CB(n##3) CB(n##4) CB(n##5) CB(n##6) CB(n##7)
CB8(1) CB8(2) CB8(3) CB8(4) CB8(5) CB8(6) CB8(7) CB8(8) CB(900)
#define REF8(n) cb##n##0, cb##n##1, cb##n##2, cb##n##3, cb##n##4, cb##n##5, cb##n##6, cb##n##7
static const PFAX_EXT_CONFIG_CHANGE g_many[65] = {
    REF8(1), REF8(2), REF8(3), REF8(4), REF8(5), REF8(6), REF8(7), REF8(8), cb900};

FAXSIM_EXPORT BOOL WINAPI RegisterMany(const void *route, void **failure_data,
                                       LPDWORD failure_size)
{
    (void)route;
    (void)failure_data;
    (void)failure_size;
    for (DWORD i = 0; i < 65; i++) {
        g_register(faxsim_module_handle(), 1000 + i, DEV_ID_SRC_FAX, STATUS_GUID, g_many[i]);
    }
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    (void)app;
    (void)heap;
    (void)line_callback;
    (void)service_callback;
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevStartJob(HLINE line, DWORD device, PHANDLE job, HANDLE port,
                                         ULONG_PTR key)
{
    (void)line;
    (void)port;
    (void)key;
    *job = (HANDLE)(ULONG_PTR)(0x5000 + device);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevEndJob(HANDLE job)
{
    return job != NULL;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevSend(HANDLE job, PFAX_SEND send, PFAX_SEND_CALLBACK callback)
{
    (void)send;
    (void)callback;
    return job != NULL;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevReceive(HANDLE job, HCALL call, PFAX_RECEIVE receive)
{
    (void)call;
    (void)receive;
    return job != NULL;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevReportStatus(HANDLE job, PFAX_DEV_STATUS status, DWORD size,
                                             LPDWORD required)
{
    (void)job;
    (void)status;
    (void)size;
    *required = 64;
#if defined(_WIN32)
    SetLastError(ERROR_INSUFFICIENT_BUFFER_CODE);
#else
    errno = ERROR_INSUFFICIENT_BUFFER_CODE;
#endif
    return FALSE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevAbortOperation(HANDLE job)
{
    return job != NULL;
}
