# Repoint imported *__rosidl_generator_py targets at this machine's Python and numpy headers.
# The registry's ROS wheels export the include directories of the machine that built them
# (/opt/python/cp311-cp311/...), which makes CMake's generate step fail; on a real ROS install
# no target matches and this does nothing.  Include it after rosidl_generate_interfaces().
find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
get_property(_cinempc_imported DIRECTORY PROPERTY IMPORTED_TARGETS)
foreach(_target IN LISTS _cinempc_imported)
  get_target_property(_includes ${_target} INTERFACE_INCLUDE_DIRECTORIES)
  if(_includes MATCHES "^/opt/python/")
    set_target_properties(${_target} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${Python3_INCLUDE_DIRS};${Python3_NumPy_INCLUDE_DIRS}")
  endif()
endforeach()
