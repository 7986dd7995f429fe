/* The careful virtual FSP with devices 0x10000..=0x10003, over the ids faxsim's battery
 * gives its TAPI devices: the service refuses its devices and does not use it, and
 * validate says so in plain words instead of a bare PASSED. */
#define PREFIX 0x10000u
#define COUNT 4u
#include "careful_vfsp.c"
