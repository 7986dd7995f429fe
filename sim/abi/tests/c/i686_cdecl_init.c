/* Must NOT compile for 32-bit x86 Windows: FaxExtInitializeConfig defined
 * without WINAPI conflicts with the header's stdcall prototype. */
#include "faxsim_ext.h"

FAXSIM_EXPORT HRESULT FaxExtInitializeConfig(PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set,
                                             PFAX_EXT_REGISTER_FOR_EVENTS reg,
                                             PFAX_EXT_UNREGISTER_FOR_EVENTS unreg,
                                             PFAX_EXT_FREE_BUFFER free_buffer)
{
    (void)get;
    (void)set;
    (void)reg;
    (void)unreg;
    (void)free_buffer;
    return NOERROR;
}
