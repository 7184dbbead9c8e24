{
  "signatures":[
    {
      "key":"11eba0655079777a7889a874506fe90c69f5ebc5c7768a65f0a721f94bad5377",
      "comment": "x", "algorithm":"ed25519",
      "signature":"a9ee1a4480dae6cfedb49c77733c7bc027445ec21a76b217c290232839187e184dc41f555b0cab68ec35674067d145d3dfbb63b20bf694280eb7e266b411cb01"
    }
  ]
}