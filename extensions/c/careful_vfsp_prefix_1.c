/* The careful virtual FSP with DeviceIdPrefix 1 (devices 1 and 2), a prefix the
 * documentation allows: the service's own device ids must keep clear of it. */
#define PREFIX 1u
#include "careful_vfsp.c"
