/* A shared library with no fax entry point: faxsim refuses it (exit 2). */
#include "faxsim_ext.h"

FAXSIM_EXPORT int not_a_fax_extension(void)
{
    return 42;
}
