/* buffer-leak, only when the second read of a pair fails: on every change of its flags
 * it reads its flags and its status together, and when the status read fails (other than
 * with "no such value", which it handles) it returns without freeing the flags it
 * already holds. Its start-up reads come first, and the
 * default battery fails only an extension's first few reads, so `faxsim validate` never
 * shows the bug; a failure injected on a later read does (`faxsim explore`). */
#include "fixture.h"

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)guid;
    (void)data;
    (void)size;
    LPBYTE flags = NULL;
    DWORD flags_size = 0;
    if (g_get_data(device, DEV_ID_SRC_FAX, FLAGS_GUID, &flags, &flags_size) != ERROR_SUCCESS) {
        return NOERROR; /* nothing held yet */
    }
    LPBYTE status = NULL;
    DWORD status_size = 0;
    DWORD rc = g_get_data(device, DEV_ID_SRC_FAX, STATUS_GUID, &status, &status_size);
    if (rc == ERROR_FILE_NOT_FOUND) {
        g_free_buffer(flags); /* no status stored: the default, handled with care */
        return NOERROR;
    }
    if (rc != ERROR_SUCCESS) {
        return NOERROR; /* BUG: `flags` is not freed on this path */
    }
    g_free_buffer(status);
    g_free_buffer(flags);
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
    /* Its settings, read at start-up (the careful way). */
    for (int i = 0; i < 3; i++) {
        (void)fixture_read_dword(0, DEV_ID_SRC_FAX, FLAGS_GUID, 0);
        (void)fixture_read_dword(0, DEV_ID_SRC_FAX, STATUS_GUID, 0);
    }
    (void)g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS
