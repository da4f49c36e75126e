#include "mini.h"

int m_neg(int x) { return -x; }
