/* An FSP without FaxExtInitializeConfig: valid, but it takes no part in the
 * configuration protocol (faxsim says so and reports nothing). */
#include "faxsim_ext.h"

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap,
                                           PFAX_LINECALLBACK *line_callback,
                                           PFAX_SERVICE_CALLBACK service_callback)
{
    (void)app;
    (void)heap;
    (void)line_callback;
    (void)service_callback;
    return TRUE;
}
