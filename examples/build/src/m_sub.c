#include "mini.h"

int m_sub(int x) { return x - 2; }
