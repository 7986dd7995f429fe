/* Keeps ConfigChange's lpData pointer (valid only during the call) and reads it in the
 * next ConfigChange, saving what it finds as its status. faxsim poisons lpData after
 * each call and alternates two buffers, so what it reads is 0xDD bytes, not the next
 * call's value: the bug shows instead of hiding behind a reused buffer. (No rule can see
 * a read; the test reads the saved status in the trace.) */
#include "fixture.h"

static HANDLE g_handle;
static const BYTE *g_kept;
static DWORD g_kept_size;

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    BYTE previous[4];
    (void)device; (void)guid;
    if (g_kept != NULL && g_kept_size >= sizeof(previous)) {
        memcpy(previous, g_kept, sizeof(previous)); /* reads the dead buffer */
        g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, STATUS_GUID, previous,
                   sizeof(previous));
    }
    g_kept = data; /* BUG: the service's buffer, valid only during this call */
    g_kept_size = size;
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
    (void)heap; (void)cbs;
    g_handle = g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device; (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
