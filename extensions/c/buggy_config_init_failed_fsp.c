/* config-init-failed, as an FSP: FaxExtInitializeConfig fails, so the service uses
 * none of its other entry points. Its FaxDevShutdown releases what FaxDevInitialize set
 * up, as a careful provider's does: called without that init (as faxsim once did), it
 * would crash on the state that was never allocated. */
#include "fixture.h"

#include <stdlib.h>

struct state {
    BYTE *line_table;
};

static struct state *g_state;

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return E_FAIL; /* BUG: fails for a reason it could work around */
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    (void)app; (void)heap; (void)line_callback; (void)service_callback;
    g_state = (struct state *)calloc(1, sizeof(*g_state));
    if (g_state == NULL) {
        return FALSE;
    }
    g_state->line_table = (BYTE *)calloc(16, 1);
    return g_state->line_table != NULL;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    /* Only ever called after a FaxDevInitialize that returned TRUE. */
    free(g_state->line_table);
    free(g_state);
    g_state = NULL;
    return S_OK;
}
