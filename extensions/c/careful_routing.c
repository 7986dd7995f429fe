/* A careful routing extension: reads its flag for every device it hears of (global
 * data on device 0 as the default), registers once per device with logical ids and its
 * own module handle, copies what it is told, frees every buffer exactly once, and
 * never registers from inside a notification. */
#include "fixture.h"

#define MAX_DEVICES 64

static struct {
    DWORD device;
    HANDLE handle;
    DWORD flag;
} g_devices[MAX_DEVICES];
static int g_count;

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)guid;
    for (int i = 0; i < g_count; i++) {
        if (g_devices[i].device == device && data != NULL && size >= sizeof(DWORD)) {
            memcpy(&g_devices[i].flag, data, sizeof(DWORD)); /* copy, never write */
        }
    }
    return NOERROR;
}

static void watch(DWORD device)
{
    for (int i = 0; i < g_count; i++) {
        if (g_devices[i].device == device) {
            return; /* already registered: never twice */
        }
    }
    if (g_count == MAX_DEVICES) {
        return;
    }
    DWORD flag = fixture_read_dword(0, DEV_ID_SRC_FAX, FLAGS_GUID, 0);
    flag = fixture_read_dword(device, DEV_ID_SRC_FAX, FLAGS_GUID, flag);
    HANDLE h = g_register(faxsim_module_handle(), device, DEV_ID_SRC_FAX, FLAGS_GUID,
                          on_change);
    g_devices[g_count].device = device;
    g_devices[g_count].handle = h; /* NULL if Register failed: nothing to undo */
    g_devices[g_count].flag = flag;
    g_count++;
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
    watch(0);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    if (added) {
        watch(device);
        return TRUE;
    }
    for (int i = 0; i < g_count; i++) {
        if (g_devices[i].device == device) {
            if (g_devices[i].handle != NULL) {
                g_unregister(g_devices[i].handle);
            }
            g_devices[i] = g_devices[--g_count];
            break;
        }
    }
    return TRUE;
}

FIXTURE_ROUTING_STUBS
