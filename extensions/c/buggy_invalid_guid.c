/* invalid-guid: passes the GUID without its braces. */
#include "routing_skeleton.h"

static void bug_init(void)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    if (g_get_data(0, DEV_ID_SRC_FAX, FAXSIM_W("0A9D7B3A-A35E-4cc6-B73C-1F635136057B"),
                   &buffer, &n) == ERROR_SUCCESS) { /* BUG: no braces */
        g_free_buffer(buffer);
    }
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}
