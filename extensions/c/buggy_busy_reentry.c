/* busy-reentry: registers for the status value from inside its change handler (the
 * service answers ERROR_BUSY while it delivers). */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT WINAPI on_status(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)guid; (void)data; (void)size;
    /* BUG: Register while a notification is being delivered */
    g_register(faxsim_module_handle(), device, DEV_ID_SRC_FAX, STATUS_GUID, on_status);
    return NOERROR;
}
