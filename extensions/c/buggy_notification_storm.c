/* notification-storm: mirrors every change of its flag back with SetData ("acknowledge
 * by bumping the value"). Alone it is harmless (the service does not notify a writer's
 * own registration); build it twice under two names and validate both: each one's
 * write notifies the other, forever. */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    BYTE next[4] = {0, 0, 0, 0};
    (void)guid;
    if (data != NULL && size >= 4) {
        memcpy(next, data, 4);
    }
    next[0]++;
    /* BUG: a write from inside the handler notifies every other registrant */
    g_set_data(faxsim_module_handle(), device, DEV_ID_SRC_FAX, FLAGS_GUID, next, sizeof(next));
    return NOERROR;
}
