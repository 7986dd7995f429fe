/* duplicate-registration: registers for its global flag in FaxExtInitializeConfig and
 * again in FaxRouteInitialize. */
#include "routing_skeleton.h"

static void bug_init(void)
{
    /* BUG: the skeleton already registered (0, FLAGS_GUID) */
    g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}
