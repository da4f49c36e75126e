#include "mini.h"

int m_mul(int x) { return x * 3; }
