/* buffer-leak, under one delivery order only: it watches two values on device 0, its
 * flags (A) and its status (B), and assumes that when both change, A's notification
 * comes first. When B's arrives first it "catches up" by reading A itself and forgets to
 * free that buffer. Synchronous delivery always tells it in write order, so the default
 * battery never shows the bug; a deferred notification of A that waits past the write
 * of B does (`faxsim explore`). */
#include "fixture.h"

static HANDLE g_flags_handle;
static unsigned g_flags_seen;
static unsigned g_status_seen;

static HRESULT WINAPI on_flags(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)guid;
    (void)data;
    (void)size;
    g_flags_seen++;
    return NOERROR;
}

static HRESULT WINAPI on_status(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device;
    (void)guid;
    (void)data;
    (void)size;
    if (g_flags_handle != NULL && g_flags_seen == g_status_seen) {
        /* B before A: read A now. BUG: the buffer is never freed. */
        LPBYTE flags = NULL;
        DWORD flags_size = 0;
        if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &flags, &flags_size) == ERROR_SUCCESS) {
            g_flags_seen++;
        }
    }
    g_status_seen++;
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
    g_flags_seen = 0;
    g_status_seen = 0;
    (void)fixture_read_dword(0, DEV_ID_SRC_FAX, FLAGS_GUID, 0);
    (void)fixture_read_dword(0, DEV_ID_SRC_FAX, STATUS_GUID, 0);
    g_flags_handle =
        g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_flags);
    (void)g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, on_status);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
