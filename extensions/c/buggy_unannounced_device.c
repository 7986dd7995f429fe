/* buffer-leak, only when a device is not announced at start: a routing extension that
 * learns devices from FaxRouteDeviceChangeNotification and initialises each from the
 * global defaults (GetData of device 0, then FreeBuffer). A device it first meets in
 * FaxRouteDeviceEnable - one present at start, on a service that does not announce
 * those - takes another path, which forgets the FreeBuffer. Seed 0 announces devices at
 * start and finds nothing; the default run (12 seeds, both behaviours) finds it, and its
 * reproduce line names a seed that does. */
#include "fixture.h"

#define MAX_DEVICES 8

static DWORD g_known[MAX_DEVICES];
static DWORD g_count;

static BOOL known(DWORD device)
{
    for (DWORD i = 0; i < g_count; i++) {
        if (g_known[i] == device) {
            return TRUE;
        }
    }
    return FALSE;
}

static void learn(DWORD device, BOOL careful)
{
    LPBYTE defaults = NULL;
    DWORD n = 0;
    if (known(device) || g_count == MAX_DEVICES) {
        return;
    }
    g_known[g_count++] = device;
    if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &defaults, &n) == ERROR_SUCCESS) {
        /* ... the device's settings start from the defaults ... */
        if (careful) {
            g_free_buffer(defaults);
        } /* BUG: the lazy path forgets to free them */
    }
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
    static BYTE defaults[4] = {1, 0, 0, 0};
    (void)heap; (void)cbs;
    g_count = 0;
    g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, defaults,
               sizeof(defaults));
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    if (added) {
        learn(device, TRUE);
    }
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR guid, DWORD device, LONG enabled)
{
    (void)guid; (void)enabled;
    learn(device, FALSE); /* first met here: the device was there before us */
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR g, DWORD d, LPBYTE i, LPDWORD s)
{
    (void)g; (void)d; (void)i; (void)s;
    return FALSE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR g, DWORD d, const BYTE *i, DWORD s)
{
    (void)g; (void)d; (void)i; (void)s;
    return FALSE;
}
