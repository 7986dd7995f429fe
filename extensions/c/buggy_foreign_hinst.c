/* foreign-hinst: passes NULL as hInst when it writes, so the service cannot tell its
 * own registrations apart and self-exclusion is defeated. */
#include "routing_skeleton.h"

static void bug_init(void)
{
    static BYTE on[4] = {1, 0, 0, 0};
    g_set_data(NULL, 0, DEV_ID_SRC_FAX, STATUS_GUID, on, sizeof(on)); /* BUG: NULL hInst */
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}
