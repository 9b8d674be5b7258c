// tags: engines|pv|tests — desc: tbk.pv.elf on the pv engine (filled in step 3).
#include <gtest/gtest.h>
