# Writes a C++ source defining tllm::model::kBuiltinArchitecturesJson from a JSON file.
file(READ ${IN} CONTENT)
file(WRITE ${OUT} "// Generated from ${IN}; do not edit.\nnamespace tllm::model {\nextern const char* const kBuiltinArchitecturesJson;\nconst char* const kBuiltinArchitecturesJson = R\"TLLMJSON(${CONTENT})TLLMJSON\";\n}\n")
