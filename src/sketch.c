/* placeholder until the sketch lands */
#include "postgres.h"
