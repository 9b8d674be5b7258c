# tags: build|engines|pv|tests — desc: ctest pv.2as.suite: pv_tests in pv@2as (VTB_PV_PROTECT=2as), then no leftover user process.
execute_process(COMMAND ${PV_TESTS}
  "--gtest_filter=PvEngine.*:*/PvIsolation.*:*/PvKernel.*:PvKernelCounters.*:-PvKernelCounters.ReleasedTablesAreReusedWithoutReprotection"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pv_tests in pv@2as failed (${rc})")
endif()
# The user processes die with their engine: none may outlive the tests
# (an orphan would be re-parented to init; other tests' live ones are not).
# A user process whose engine just died is re-parented for the moment its
# parent-death SIGKILL takes: poll up to 3 s before calling it left behind.
foreach(i RANGE 30)
  execute_process(COMMAND pgrep -x -P 1 pv_user_host OUTPUT_VARIABLE left)
  if(NOT left)
    break()
  endif()
  execute_process(COMMAND sleep 0.1)
endforeach()
if(left)
  message(FATAL_ERROR "pv@2as user processes left behind: ${left}")
endif()
